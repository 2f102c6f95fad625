"""Helpers for testing probes against real systems: a PostgreSQL server for tests
(`postgres.py`), a Prometheus with a known history and the PostgreSQL exporter it can
scrape (`prometheus.py`), and pytest fixtures (`fixtures.py`, load it with
`pytest_plugins = ["incident_lab.testing.fixtures"]`)."""
