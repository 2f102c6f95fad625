"""The built-in failure-pattern catalogue: one YAML file per pattern (read by
`incident_lab.failure_patterns`; installed as `incident_lab.patterns`)."""
