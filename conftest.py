"""Root conftest: collect rules/scenarios/*.yaml as tests (see engine.judging.catalogue.pytest_plugin.py)."""

pytest_plugins = ["engine.judging.catalogue.pytest_plugin"]
