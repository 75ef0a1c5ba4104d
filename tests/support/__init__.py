"""Plain modules the tests import by name (no fixtures, no tests): see ``raw_client``
and ``trio_broker``."""
