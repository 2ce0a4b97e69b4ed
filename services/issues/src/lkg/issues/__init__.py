"""LKG issues service."""
