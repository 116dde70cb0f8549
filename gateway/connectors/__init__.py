"""Connectors: one sender of packets per destination kind, found by name in ``registry``."""
