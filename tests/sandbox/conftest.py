"""Fixtures live in tests/sandbox/support.py (importable helpers); re-exported here for pytest."""

from tests.sandbox.support import app, client, config, h, receiver  # noqa: F401
