"""The layering contract (pyproject.toml, [tool.importlinter]; docs/architecture.md) holds.

import-linter reads every import, those inside functions too, so a cycle cannot be dodged by
importing late."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
LINT_IMPORTS = pathlib.Path(sys.executable).parent / "lint-imports"


def test_every_layering_contract_is_kept():
    run = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_new_violation_breaks_the_contract(tmp_path):
    """The contract is not vacuous: the core importing a feature package is refused."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    probe = ROOT / "engine" / "core" / "_layer_probe.py"
    probe.write_text("from engine.ingest import pipeline  # noqa: F401\n", encoding="utf-8")
    try:
        (tmp_path / "pyproject.toml").write_text(config, encoding="utf-8")
        run = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(tmp_path / "pyproject.toml")],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    assert run.returncode != 0
    assert "engine.core._layer_probe" in run.stdout
