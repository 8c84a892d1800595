"""What `policy-push serve` prints once it listens: where the console is, how to create the first
operator, whether the webhook can accept events (and, for `make run`'s demo, with which secret), and
where SMS go now, including whether quiet hours are holding them and until when (China time).

Also `policy-push config demo FILE`: the configuration `make run` starts the service with.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import pathlib
from collections.abc import Awaitable, Callable

from connectors import sms
from engine import settings
from engine.cli import config_file
from engine.core import china_time


def lines(
    config: settings.Settings, url: str, now: datetime.datetime, *,
    demo: bool = False, loaded: config_file.ConfigFile | None = None, aliyun: bool | None = None,
    program: str = "policy-push",
) -> list[str]:
    """The banner for the service listening at `url` at `now` (UTC). With `demo`, the webhook secrets are
    shown in full (they are the demo's own, made by `config demo`); otherwise only how many there are.
    `program` is the command as the person ran it, so the line to create an operator can be pasted."""
    out = [f"policy-push is listening on {url}  (Ctrl+C stops it)"]
    if loaded is not None:
        out.append(f"  configuration:   {loaded.path}")
    out.append(f"  console:         {url}/console/")
    command = program if loaded is None else f"{program} --config {loaded.path}"
    out.append(f"  first operator:  {command} operators add USERNAME --role admin   (asks for the password)")
    out.append(f"  webhook:         {url}/webhooks/events")
    if not config.webhook_secrets:
        out.append(f"    no secret: it answers 503 until {settings.WEBHOOK_SECRETS_VAR} is set (make one: policy-push secrets new)")
    elif demo:
        where = f" (from {loaded.path})" if loaded is not None and settings.WEBHOOK_SECRETS_VAR in loaded.values else ""
        for secret in config.webhook_secrets:
            out.append(f"    demo signing secret{where}: {secret}")
        out.append(f"    send it signed events: {command} synth --firms 5 --seed 2 --url {url}")
    else:
        out.append(f"    signed with any of {len(config.webhook_secrets)} configured secret(s)")
    out.extend(sms_lines(config, now, aliyun=aliyun))
    out.extend(digest_lines(config))
    return out


def digest_lines(config: settings.Settings) -> list[str]:
    """How long a firm's new notices wait for more before going out as one message."""
    window = config.notices.digest_window
    if window is None:
        return ["  digests:         notices go out at once (one message per firm for what is due together)"]
    quiet, longest = int(window.quiet.total_seconds() // 60), int(window.longest.total_seconds() // 3600)
    return [f"  digests:         a firm's new notices wait {quiet} min for more (at most {longest} h), then go out as "
            "one SMS and one email (POLICY_PUSH_DIGEST_QUIET_MINUTES=off sends at once)"]


async def announce_when_ready(listening: asyncio.Event, drained: Callable[[], Awaitable[None]], emit: Callable[[], None]) -> None:
    """Call `emit` once the socket listens and the pipeline has folded what was waiting at start (`make run`'s
    demo events), so the banner comes after the start-up's log lines instead of scrolling away above them."""
    await listening.wait()
    await drained()
    emit()


def sms_lines(config: settings.Settings, now: datetime.datetime, *, aliyun: bool | None = None) -> list[str]:
    """Where SMS go, and whether quiet hours hold them now and until when (China time)."""
    configured = _aliyun_configured() if aliyun is None else aliyun
    where = "sent through Aliyun" if configured else f"written as files to {config.notices.outbox_dir}"
    quiet = config.notices.quiet_hours
    if quiet is None:
        return [f"  SMS:             {where}; no quiet hours"]
    window = f"{quiet.start:%H:%M}-{quiet.end:%H:%M} China time"
    until = quiet.next_allowed(now)
    if until is None:
        return [f"  SMS:             {where} now (quiet hours {window})"]
    local = until.astimezone(china_time.CHINA_TZ)
    return [
        f"  SMS:             HELD by quiet hours ({window}) until {local:%Y-%m-%d %H:%M} China time;",
        f"                   then {where} (emails are not held; POLICY_PUSH_SMS_QUIET_HOURS=off sends SMS at any hour)",
    ]


def demo_config(secret: str) -> str:
    """The text of `make run`'s configuration: the database and outbox beside it, and a webhook secret."""
    return (
        "# Written once by `policy-push config demo` for `make run`; relative paths are relative to this file.\n"
        "# A demo only: the secret below signs test deliveries (policy-push synth --url …) on this machine.\n"
        'database_url = "sqlite:///policy-push.sqlite3"\n'
        f'webhook_secrets = ["{secret}"]\n'
        "\n[notices]\n"
        'outbox_dir = "outbox"\n'
    )


def write_demo_config(path: pathlib.Path) -> bool:
    """Write the demo configuration at `path` unless a file is there (its secret stays the same from one
    `make run` to the next); return whether it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(demo_config(settings.new_webhook_secret()))
    return True


def _aliyun_configured() -> bool:
    return bool(os.environ.get(sms.ACCESS_KEY_ID_VAR) or os.environ.get(sms.ALIYUN_KEY_ID_VAR))
