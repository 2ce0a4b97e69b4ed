pytest_plugins = ["lkg.common.testing.infra"]
