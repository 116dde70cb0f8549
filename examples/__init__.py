"""Data package: installed as ``gateway.bundled.examples`` (see setup.py); read via gateway.resources."""
