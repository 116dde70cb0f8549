"""Data package: installed as ``gateway.bundled.contracts`` (see setup.py); read via gateway.resources."""
