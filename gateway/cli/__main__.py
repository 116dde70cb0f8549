"""``python -m gateway.cli``: the same entry point as the ``gateway`` script."""

from gateway.cli import main

main()
