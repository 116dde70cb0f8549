"""Integration gateway between a provincial reporting system and the national reporting network.

The package is laid out by domain noun (see ``docs/architecture.md``): ``packets`` (the TT 02/2021
canonical model and its wire profiles), ``outbox`` and ``delivery`` (durable sending), ``connectors``
(one per destination), ``messaging`` (kombu wake-ups), ``sim`` (peers that fail on purpose),
``reconciliation``, ``api`` and thin entrypoints in ``cli``.
"""

__version__ = "0.1.0"
