"""Interop tests: real third-party XMPP software (Debian packages) driven from pytest."""
