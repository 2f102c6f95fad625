"""`incident-lab demo`: the template's incident, reproduced on an embedded PostgreSQL.

A small shop database; a migration (`0042_orders_add_shipped_at`) was applied minutes
ago and its ALTER TABLE still holds ACCESS EXCLUSIVE on `orders` while checkout
queries queue behind it. The investigation runs through the same path as
`incident-lab run`, and the server is stopped afterwards.
"""

from __future__ import annotations

import psycopg

from incident_lab import scenarios
from incident_lab.archive.execute import RunOutcome, run_investigation
from incident_lab.archive.store import Archive
from incident_lab.embedded import EmbeddedPostgres

SHOP_SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10, 2),
                     created_at timestamptz DEFAULT now());
INSERT INTO customers SELECT g, 'customer' || g || '@example.com' FROM generate_series(1, 100) g;
INSERT INTO orders SELECT g, 1 + g % 100, (g % 97) * 1.5, now() - g * interval '1 minute'
FROM generate_series(1, 1000) g;
CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, applied timestamptz);
INSERT INTO django_migrations (app, name, applied) VALUES
  ('shop', '0001_initial', now() - interval '90 days'),
  ('shop', '0041_customers_email_index', now() - interval '6 days'),
  ('shop', '0042_orders_add_shipped_at', now() - interval '4 minutes');
"""
CHECKOUT_QUERY = "SELECT sum(total) FROM orders WHERE customer_id = 42"
DEMO_INCIDENT = {
    "incident": "Checkout failing after deploy",
    "severity": "Critical",
    "status": "Investigating",
    "commander": "@oncall",
}


def run_demo(archive: Archive, *, progress: bool = True) -> RunOutcome:
    with EmbeddedPostgres() as server:
        dsn = server.create_database("shop")
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(SHOP_SCHEMA)
        with scenarios.migration_holds_lock(dsn, table="orders", readers=6, reader_statement=CHECKOUT_QUERY):
            return run_investigation(
                {**DEMO_INCIDENT, "targets": {"postgres": dsn}}, archive, progress=progress
            )
