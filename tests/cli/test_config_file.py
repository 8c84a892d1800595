"""One configuration file for every command (issue 17, item 1): keys checked by name and type, the
environment over the file, relative paths from the file's folder, `config show` with secrets masked."""

from __future__ import annotations

import os
import pathlib

import pytest
from click.testing import CliRunner

from connectors import sql_migrate as migrate
from engine import cli, settings
from engine.cli import config_file

SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="  # 32 bytes, for these tests only


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Invoke the command line as its own process would be: what a configuration file exported to the
    environment is gone again afterwards."""
    saved = dict(os.environ)
    try:
        result = CliRunner(env=env).invoke(cli.main, list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return result.exit_code, result.output


def write(folder: pathlib.Path, text: str, name: str = "policy-push.toml") -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def shown(output: str) -> dict[str, tuple[str, str]]:
    """`config show` lines as {dotted key: (value, source)}."""
    rows, table = {}, ""
    for line in output.splitlines():
        if line.startswith("["):
            table = line.strip("[]") + "."
        elif " = " in line and not line.startswith("#"):
            name, _, rest = line.partition(" = ")
            value, _, source = rest.rpartition("  # ")
            rows[table + name] = (value, source)
    return rows


def test_every_command_run_from_anywhere_finds_the_database_the_file_names(tmp_path, monkeypatch):
    conf = write(tmp_path / "etc", 'database_url = "sqlite:///data/pp.sqlite3"\n')
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    code, output = run("--config", str(conf), "db", "upgrade")
    assert code == 0, output
    assert (tmp_path / "etc" / "data" / "pp.sqlite3").is_file()
    assert not (elsewhere / "data").exists()
    monkeypatch.chdir(tmp_path)  # another folder, the file named by the variable this time
    code, output = run("db", "current", env={config_file.CONFIG_VAR: str(conf)})
    assert (code, output) == (0, f"{migrate.head_revision()} (head)\n")


def test_a_variable_overrides_the_file_and_show_says_where_each_value_came_from(tmp_path):
    conf = write(tmp_path, '[notices]\nquiet_hours = "off"\nmail_from = "file@example.cn"\n')
    code, output = run("--config", str(conf), "config", "show", env={"POLICY_PUSH_MAIL_FROM": "env@example.cn"})
    assert code == 0, output
    rows = shown(output)
    assert output.startswith(f"# configuration file: {conf}\n")
    assert rows["notices.quiet_hours"] == ('"off"', "file")
    assert rows["notices.mail_from"] == ('"env@example.cn"', "environment (POLICY_PUSH_MAIL_FROM)")
    assert rows["notices.sms_per_second"][1] == "default"


@pytest.mark.parametrize(("text", "message"), [
    ('database_uri = "sqlite:///x.db"\n', "unknown key 'database_uri' (known keys at the top level: database_url,"),
    ('[notices]\nquiet_hour = "off"\n', "unknown key 'notices.quiet_hour' (known keys in [notices]: smtp_url,"),
    ('[smtp]\nurl = "smtp://x"\n', "unknown table [smtp] (known tables: aliyun_sms, notices)"),
    ("max_body_bytes = \"1MB\"\n", "key 'max_body_bytes': expected a whole number, got a string"),
    ("max_body_bytes = true\n", "key 'max_body_bytes': expected a whole number, got a boolean (True)"),
    (f'webhook_secrets = "{SECRET}"\n', "key 'webhook_secrets': expected an array of strings (whsec_… secrets), got a string"),
    ("notices = 3\n", "key 'notices': expected a table [notices], got an integer (3)"),
    ("[notices]\nstale_after_days = \"never\"\n", "key 'notices.stale_after_days': expected a whole number of days or the string \"off\""),
    ("database_url = \n", "not valid TOML"),
])
def test_a_malformed_file_is_refused_naming_the_file_and_the_key(tmp_path, text, message):
    conf = write(tmp_path, text)
    code, output = run("--config", str(conf), "config", "show")
    assert code == 2
    assert f"Error: {conf}: {message}" in output
    assert "Traceback" not in output


def test_a_missing_file_is_refused_in_one_line(tmp_path):
    code, output = run("config", "show", env={config_file.CONFIG_VAR: str(tmp_path / "nope.toml")})
    assert code == 2 and f"Error: {tmp_path / 'nope.toml'}: no such configuration file" in output


def test_a_bad_value_names_the_file_and_key_it_came_from_or_the_variable(tmp_path):
    conf = write(tmp_path, '[notices]\nquiet_hours = "late"\n')
    code, output = run("--config", str(conf), "config", "show")
    assert code == 2
    assert f"{conf}: key 'notices.quiet_hours' (POLICY_PUSH_SMS_QUIET_HOURS): quiet hours 'late'" in output
    code, output = run("--config", str(conf), "config", "show", env={"POLICY_PUSH_SMS_QUIET_HOURS": "early"})
    assert code == 2
    assert "Error: POLICY_PUSH_SMS_QUIET_HOURS: quiet hours 'early'" in output and str(conf) not in output


def test_every_key_reaches_its_setting_and_secrets_are_masked(tmp_path):
    conf = write(tmp_path, f"""
database_url = "postgresql://pp:db-password-1@db.example:5432/pp"
webhook_secrets = ["{SECRET}"]
max_body_bytes = 2048
max_batch_items = 7
cookie_secure = "always"
amqp_url = "amqp://pp:amqp-password-2@mq.example:5672/"
amqp_queue = "pp.events"
rules_dir = "my-rules"
measures_dir = "measures"
templates_dir = "/srv/templates"
[notices]
smtp_url = "smtps://mailer:smtp-password-3@mail.example:465"
mail_from = "pp@example.cn"
mail_from_name = "政策直达测试"
outbox_dir = "out"
sign_name = "测试签名"
quiet_hours = "22:30-07:15"
sms_per_second = 3
email_per_second = 4.5
smtp_sessions = 6
public_url = "https://pp.example.cn"
secret_key = "secret-key-4"
sms_report_token = "report-token-5"
stale_after_days = "off"
firm_link_days = 14
digest_quiet_minutes = 5
digest_longest_hours = 6
[aliyun_sms]
access_key_id = "LTAIexample"
access_key_secret = "aliyun-secret-6"
endpoint = "https://dysmsapi.example.com"
sign_name = "阿里签名"
timeout = 2.5
""")
    code, output = run("--config", str(conf), "config", "show")
    assert code == 0, output
    rows = shown(output)
    assert set(rows) == {key.name for key in config_file.KEYS}
    assert {name for name, (_, source) in rows.items() if source != "file"} == set()
    for secret in ("db-password-1", SECRET, "amqp-password-2", "smtp-password-3", "secret-key-4", "report-token-5", "aliyun-secret-6"):
        assert secret not in output
    assert rows["database_url"][0] == '"postgresql+asyncpg://pp:***@db.example:5432/pp"'
    assert rows["webhook_secrets"][0] == '["***"]'
    assert rows["notices.secret_key"][0] == rows["aliyun_sms.access_key_secret"][0] == '"***"'
    assert rows["rules_dir"][0] == f'"{tmp_path / "my-rules"}"'  # relative to the file's folder
    assert rows["templates_dir"][0] == '"/srv/templates"'
    assert rows["notices.outbox_dir"][0] == f'"{tmp_path / "out"}"'
    assert rows["notices.quiet_hours"][0] == '"22:30-07:15"'
    assert rows["notices.stale_after_days"][0] == '"off"'
    assert rows["notices.email_per_second"][0] == "4.5"
    assert rows["notices.smtp_sessions"][0] == "6"
    assert rows["aliyun_sms.endpoint"][0] == '"https://dysmsapi.example.com/"'
    assert rows["aliyun_sms.access_key_id"][0] == '"LTAI***"' and "LTAIexample" not in output


def test_without_a_file_show_prints_the_environment_and_defaults():
    code, output = run("config", "show", env={settings.WEBHOOK_SECRETS_VAR: SECRET})
    assert code == 0, output
    assert output.startswith("# no configuration file")
    assert shown(output)["webhook_secrets"] == ('["***"]', f"environment ({settings.WEBHOOK_SECRETS_VAR})")
    assert SECRET not in output


def test_export_leaves_a_set_variable_alone_and_fills_an_empty_one(tmp_path):
    conf = config_file.load(write(tmp_path, 'amqp_queue = "from-file"\ncookie_secure = "always"\nmax_batch_items = 5\n'))
    environ = {settings.AMQP_QUEUE_VAR: "from-env", settings.COOKIE_SECURE_VAR: ""}
    assert sorted(config_file.export(conf, environ)) == [settings.COOKIE_SECURE_VAR, settings.MAX_BATCH_VAR]
    assert environ == {settings.AMQP_QUEUE_VAR: "from-env", settings.COOKIE_SECURE_VAR: "always", settings.MAX_BATCH_VAR: "5"}
    assert settings.Settings.from_env(environ).max_batch_items == 5


def test_an_absolute_sqlite_path_and_a_server_url_are_kept_as_written(tmp_path):
    conf = config_file.load(write(tmp_path, 'database_url = "sqlite:////srv/pp/pp.sqlite3"\n'))
    assert conf.values[settings.DATABASE_URL_VAR] == "sqlite:////srv/pp/pp.sqlite3"
    conf = config_file.load(write(tmp_path, 'database_url = "postgresql://u@h/pp"\n'))
    assert conf.values[settings.DATABASE_URL_VAR] == "postgresql://u@h/pp"
    assert os.environ.get(settings.DATABASE_URL_VAR) is None  # loading alone exports nothing


def test_the_deployment_guide_lists_every_key_with_its_variable():
    guide = (pathlib.Path(__file__).parents[2] / "docs" / "deployment.md").read_text(encoding="utf-8")
    section = guide.split("## Configuration file\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    for key in config_file.KEYS:
        table, _, name = key.name.rpartition(".")
        assert any(f"`{name}`" in row and f"`{key.var}`" in row and (not table or f"`[{table}]`" in row) for row in rows), key


def test_aliyun_settings_are_checked_with_the_rest_by_every_command(tmp_path):
    conf = write(tmp_path, '[aliyun_sms]\naccess_key_id = "LTAIexample"\naccess_key_secret = "s"\ntimeout = -1\n')
    code, output = run("--config", str(conf), "db", "current")
    assert code == 2
    assert f"{conf}: key 'aliyun_sms.timeout' (POLICY_PUSH_ALIYUN_SMS_TIMEOUT): must be a positive number of seconds" in output
    conf = write(tmp_path, '[aliyun_sms]\naccess_key_id = "LTAIexample"\n')
    code, output = run("--config", str(conf), "db", "current")
    assert code == 2 and "POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_SECRET: required to send SMS through Aliyun" in output
