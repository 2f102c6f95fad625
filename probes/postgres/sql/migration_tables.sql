-- Which known migration history tables exist, from the catalog alone (no table is opened).
SELECT n.nspname AS schema_name, c.relname AS table_name,
       pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) AS columns
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
  AND c.relname IN ('django_migrations', 'flyway_schema_history', 'databasechangelog',
                    'knex_migrations', 'schema_migrations')
GROUP BY n.nspname, c.relname
ORDER BY n.nspname, c.relname
