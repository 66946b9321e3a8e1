"""Ironwall server/modules."""
