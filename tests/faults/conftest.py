"""Fixtures of the fault tests: `own_broker`, a broker a test may stop, is in
tests/conftest.py (the consumer fault tests of tests/e2e use it too)."""
