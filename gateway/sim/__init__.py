"""Peers that fail on purpose: the national-system and ministry simulators (product code, not test code).

They bind to 127.0.0.1 only and are never started by ``gateway run`` or ``gateway serve``.
"""
