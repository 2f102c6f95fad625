"""Built-in probes for PgBouncer connection poolers."""
