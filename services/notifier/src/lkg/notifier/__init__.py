"""LKG notifier service."""
