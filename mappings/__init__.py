"""Mappings as data: provincial indicator codes, units and administrative units to national catalogues.

The YAML files under this package are the product; the Python here only loads, checks and applies
them. Every observation and packet records the mapping version that produced it.
"""
