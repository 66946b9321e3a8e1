"""Ironwall: end-to-end encrypted instant messaging on XMPP."""

__all__ = ["__version__"]

__version__ = "0.1.0"
