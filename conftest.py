"""Root conftest: collect rules/scenarios/*.yaml as tests (see engine/catalogue/pytest_plugin.py)."""

pytest_plugins = ["engine.catalogue.pytest_plugin"]
