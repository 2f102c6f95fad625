-- golang-migrate records no time, only the version and whether the last run failed midway.
SELECT version::text AS migration, NULL::timestamptz AS applied_at, NOT dirty AS succeeded,
       NULL::float8 AS age_seconds
FROM {table}
