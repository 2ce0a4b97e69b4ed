pytest_plugins = ["lkg.common.testing.infra", "lkg.common.testing.watchdog"]
