SELECT app || '.' || name AS migration, applied AS applied_at, true AS succeeded,
       EXTRACT(epoch FROM pg_catalog.now() - applied)::float8 AS age_seconds
FROM {table} ORDER BY applied DESC LIMIT 5
