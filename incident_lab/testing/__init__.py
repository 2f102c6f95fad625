"""Helpers for testing probes against real systems: a PostgreSQL server for tests
(`postgres.py`) and pytest fixtures (`fixtures.py`, load it with
`pytest_plugins = ["incident_lab.testing.fixtures"]`)."""
