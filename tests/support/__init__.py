"""Shared test harness: real servers on ephemeral loopback ports, real clients."""
