pytest_plugins = ["incident_lab.testing.fixtures"]
