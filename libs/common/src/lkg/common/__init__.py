"""LKG shared foundation."""
