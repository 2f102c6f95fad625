SELECT COALESCE(version, '') || ' ' || description AS migration, installed_on AS applied_at,
       success AS succeeded, EXTRACT(epoch FROM pg_catalog.now() - installed_on)::float8 AS age_seconds
FROM {table} ORDER BY installed_on DESC LIMIT 5
