"""Ironwall server."""
