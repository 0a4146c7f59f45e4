"""Reusable Pulumi components of the platform, one per file."""
