"""LKG approvals service."""
