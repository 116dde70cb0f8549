"""The data the gateway ships inside its wheel, as importable packages.

``gateway.bundled.contracts`` is the repository's ``contracts/`` folder (wire profiles, JSON Schemas,
XSDs, example packets) and ``gateway.bundled.examples`` its ``examples/`` folder (the demo's Lào Cai
workbook and the sample exports). ``setup.py`` maps both folders here, so a wheel carries them and an
editable install reads the checkout itself; code reaches them only through ``gateway.resources``.
"""
