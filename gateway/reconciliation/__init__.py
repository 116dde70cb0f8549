"""Reconciliation: what the source said vs what was sent vs what the receiver accepted."""
