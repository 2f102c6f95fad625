SELECT id || ' by ' || author || ' (' || filename || ')' AS migration, dateexecuted AS applied_at,
       exectype <> 'FAILED' AS succeeded, EXTRACT(epoch FROM pg_catalog.now() - dateexecuted)::float8 AS age_seconds
FROM {table} ORDER BY dateexecuted DESC LIMIT 5
