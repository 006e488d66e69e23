"""Plugins: hook specifications, written contracts, the registry."""
