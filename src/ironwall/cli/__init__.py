"""Ironwall cli."""
