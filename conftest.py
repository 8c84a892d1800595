"""Root conftest: collect rules/<slug>/scenarios.yaml as tests (see engine.judging.catalogue.pytest_plugin)."""

pytest_plugins = ["engine.judging.catalogue.pytest_plugin"]
