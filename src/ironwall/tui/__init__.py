"""Ironwall tui."""
