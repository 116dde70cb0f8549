"""Adapters: readers of provincial sources that stream raw observations.

Each source kind is one module behind the ``Reader`` protocol in ``adapters.base``, found by name in
``adapters.registry``. Readers never drop a record silently: every row they see is yielded as a
``RawObservation``, a ``Blank`` or a ``ReadProblem`` with its location.
"""
