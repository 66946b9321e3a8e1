"""Ironwall client."""
