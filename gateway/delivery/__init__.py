"""Deliveries: one packet to one destination, driven through a closed state machine."""
