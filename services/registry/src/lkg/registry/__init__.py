"""LKG registry service."""
