"""LKG scoring service."""
