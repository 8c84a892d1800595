"""The service files in deploy/ (issue 17, item 3): systemd accepts the units, and the units, the Dockerfile
and the compose file run the same commands with the same settings, all of them real.

No container image is built here (no Docker daemon on the development machine); the Dockerfile and
compose.yaml are checked as text against the units and the command line.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from engine import cli, constants

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = {"serve": DEPLOY / "systemd/policy-push.service", "worker": DEPLOY / "systemd/policy-push-worker.service"}
#: Where distributions keep systemd's own units (the targets a unit refers to), newest layout first.
SYSTEM_UNIT_DIRS = (pathlib.Path("/usr/lib/systemd/system"), pathlib.Path("/lib/systemd/system"))
VARIABLE = re.compile(r"\bPOLICY_PUSH_[A-Z0-9_]*[A-Z0-9]\b")


def unit(path: pathlib.Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each a list of (key, value) in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def service_of(path: pathlib.Path) -> dict[str, str]:
    return dict(unit(path)["Service"])


def service(name: str) -> dict[str, str]:
    return service_of(UNITS[name])


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def dockerfile() -> dict[str, list[str]]:
    """The final stage's instructions: each name with the arguments of its last occurrence."""
    final = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").split("\nFROM ")[-1]
    found: dict[str, list[str]] = {}
    for line in final.splitlines():
        name, _, rest = line.partition(" ")
        if name.isupper():
            found[name] = json.loads(rest) if rest.startswith("[") else rest.split()
    return found


def verify(root: pathlib.Path, units: dict[str, str]) -> tuple[int, str]:
    """`systemd-analyze verify` of unit files (name → text) in a root of their own, holding systemd's units,
    ours, and the programs their ExecStart names (verify checks they are executable), so the units are
    checked unchanged whatever is installed on this machine. Skips where systemd-analyze or systemd's own
    units are missing: a tool, not a service CI must provide, so skipped on CI too."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    system = next((d for d in SYSTEM_UNIT_DIRS if (d / "sysinit.target").is_file()), None)
    if system is None:
        pytest.skip("systemd's own units (sysinit.target) are not installed")
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name, text in units.items():
        path = root / "etc/systemd/system" / name
        path.write_text(text, encoding="utf-8")
        program = root / shlex.split(service_of(path)["ExecStart"])[0].lstrip("/")
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    result = subprocess.run([analyze, "verify", f"--root={root}", *units], capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, result.stdout + result.stderr


def test_systemd_accepts_both_units(tmp_path):
    # systemd only warns (exit 0) about an unknown key or a bad value: any output at all is a failure.
    assert verify(tmp_path, {p.name: p.read_text(encoding="utf-8") for p in UNITS.values()}) == (0, "")


def test_the_check_sees_a_bad_value(tmp_path):
    text = UNITS["serve"].read_text(encoding="utf-8").replace("ProtectSystem=strict", "ProtectSystem=stricter")
    code, output = verify(tmp_path, {"broken.service": text})
    assert "stricter" in output


@pytest.mark.parametrize("name", ["serve", "worker"])
def test_units_compose_and_image_run_the_same_real_command(name):
    program, *arguments = shlex.split(service(name)["ExecStart"])
    image = dockerfile()
    assert image["ENTRYPOINT"] == [program]
    assert compose()["services"][name]["command"] == arguments
    if name == "serve":
        assert image["CMD"] == arguments
    # The options exist and take these values: click parses them as `policy-push` would.
    command = cli.main.commands[arguments[0]]
    with command.make_context(arguments[0], arguments[1:]) as context:
        assert context.params


def test_units_compose_and_image_agree_on_their_settings():
    serve, worker = service("serve"), service("worker")
    assert {k: v for k, v in serve.items() if k != "ExecStart"} == {k: v for k, v in worker.items() if k != "ExecStart"}
    image, services = dockerfile(), compose()["services"]
    assert image["USER"] == [serve["User"]] == [serve["Group"]]
    assert image["WORKDIR"] == [serve["WorkingDirectory"]] == [f"/var/lib/{serve['StateDirectory']}"]
    assert serve["ReadWritePaths"] == serve["WorkingDirectory"]
    assert image["STOPSIGNAL"] == [serve["KillSignal"]]
    stop_seconds = int(serve["TimeoutStopSec"])
    assert stop_seconds > constants.SHUTDOWN_GRACE_SECONDS  # the process stops by itself before systemd kills it
    for name in ("serve", "worker", "migrate"):
        assert services[name]["stop_signal"] == serve["KillSignal"]
        assert services[name]["stop_grace_period"] == f"{stop_seconds}s"
        assert f"state:{serve['WorkingDirectory']}" in services[name]["volumes"]
    port = arguments(serve)["--port"]
    assert services["serve"]["ports"] == [f"{port}:{port}"] and port in image["EXPOSE"]
    assert arguments(worker)["--metrics-port"] in image["EXPOSE"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert "upgrade" in cli.main.commands["db"].commands


def arguments(settings: dict[str, str]) -> dict[str, str]:
    """ExecStart's `--option value` pairs."""
    words = shlex.split(settings["ExecStart"])
    return {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("--") and not words[i + 1].startswith("--")}


def test_units_and_compose_read_the_same_environment_file():
    for name in UNITS:
        assert service(name)["EnvironmentFile"] == "/etc/policy-push/env"
        assert compose()["services"][name]["env_file"] == "env"
    listed = set(re.findall(r"^#? ?(POLICY_PUSH_[A-Z0-9_]+)=", (DEPLOY / "env.example").read_text(encoding="utf-8"), flags=re.MULTILINE))
    for name in UNITS:
        assert set(compose()["services"][name]["environment"]) <= listed


def test_every_variable_the_deploy_files_name_is_one_the_code_reads():
    code = "\n".join(p.read_text(encoding="utf-8") for folder in ("engine", "connectors") for p in (ROOT / folder).rglob("*.py"))
    read = set(VARIABLE.findall(code))
    named = {v for p in DEPLOY.rglob("*") if p.is_file() for v in VARIABLE.findall(p.read_text(encoding="utf-8"))}
    assert named and named <= read, f"not read by the code: {sorted(named - read)}"
    assert "POLICY_PUSH_DATABASE_URL" in named and "POLICY_PUSH_SECRET_KEY" in named


def test_without_systemd_analyze_the_check_is_skipped_even_on_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="systemd-analyze is not installed"):
        verify(tmp_path, {})
