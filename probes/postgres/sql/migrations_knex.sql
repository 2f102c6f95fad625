SELECT name AS migration, migration_time AS applied_at, true AS succeeded,
       EXTRACT(epoch FROM pg_catalog.now() - migration_time)::float8 AS age_seconds
FROM {table} ORDER BY migration_time DESC NULLS LAST LIMIT 5
