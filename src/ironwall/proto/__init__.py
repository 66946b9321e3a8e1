"""Ironwall proto."""
