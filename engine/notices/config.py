"""Notice settings, read once from the environment with errors that name the variable."""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import secrets
from collections.abc import Mapping

from engine import constants
from engine.notices import outbox, pacing


class NoticeSettingsError(ValueError):
    """A notice setting is malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class NoticeSettings:
    """Channels, pacing and links for notices. Without an SMTP URL or Aliyun credentials
    (POLICY_PUSH_ALIYUN_SMS_*, read by connectors.sms), notices are written as files."""

    #: `smtp://`, `smtp+starttls://` or `smtps://` URL (connectors.email); None → files in `outbox_dir`.
    smtp_url: str | None = None
    #: Sender of email notices (the SMTP URL's `?from=` takes precedence) and its display name.
    mail_from: str = "noreply@localhost"
    mail_from_name: str = "惠企政策直达"
    outbox_dir: pathlib.Path = pathlib.Path("var/outbox")
    sign_name: str = constants.SMS_SIGN_NAME
    quiet_hours: pacing.QuietHours | None = pacing.QuietHours.parse(constants.SMS_QUIET_HOURS)
    sms_per_second: float = constants.SMS_PER_SECOND
    email_per_second: float = constants.EMAIL_PER_SECOND
    #: SMTP sessions each delivery worker keeps to the relay (POLICY_PUSH_SMTP_SESSIONS).
    smtp_sessions: int = constants.SMTP_SESSIONS
    #: Where firms reach this service (one-click unsubscribe links).
    public_url: str = "http://127.0.0.1:8080"
    #: Signs unsubscribe links. Set it in production; unset, `signing_key()` keeps one in var/secret_key.
    secret_key: str = ""
    #: Shared token the SMS provider sends with receipts and replies (`?token=` on the push URL).
    sms_report_token: str | None = None
    #: How long after a benefit's window closed its notices are still pushed when the decision is recorded
    #: (POLICY_PUSH_STALE_AFTER_DAYS, `off` for never held); later ones wait for an operator to release them.
    stale_after: datetime.timedelta | None = datetime.timedelta(days=constants.NOTICE_STALE_AFTER_DAYS)
    #: How long a link to the firm's own page (我的政策, in every email) stays valid (POLICY_PUSH_FIRM_LINK_DAYS).
    firm_link_lifetime: datetime.timedelta = datetime.timedelta(days=constants.FIRM_LINK_DAYS)
    #: How long new notices of a firm wait for more before going out as one message (POLICY_PUSH_DIGEST_QUIET_MINUTES,
    #: POLICY_PUSH_DIGEST_LONGEST_HOURS); None: at once.
    digest_window: outbox.DigestWindow | None = outbox.DigestWindow(
        datetime.timedelta(minutes=constants.DIGEST_QUIET_MINUTES), datetime.timedelta(hours=constants.DIGEST_LONGEST_HOURS)
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NoticeSettings:
        env = os.environ if environ is None else environ

        def rate(name: str, default: float) -> float:
            raw = env.get(name)
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise NoticeSettingsError(f"{name}: {raw!r} is not a number") from None
            if value <= 0:
                raise NoticeSettingsError(f"{name}: must be positive")
            return value

        try:
            quiet = pacing.QuietHours.parse(env.get("POLICY_PUSH_SMS_QUIET_HOURS", constants.SMS_QUIET_HOURS))
        except ValueError as exc:
            raise NoticeSettingsError(f"POLICY_PUSH_SMS_QUIET_HOURS: {exc}") from None
        outbox_dir = pathlib.Path(env.get("POLICY_PUSH_OUTBOX_DIR") or "var/outbox")
        return cls(
            smtp_url=env.get("POLICY_PUSH_SMTP_URL") or None,
            mail_from=env.get("POLICY_PUSH_MAIL_FROM") or "noreply@localhost",
            mail_from_name=env.get("POLICY_PUSH_MAIL_FROM_NAME") or "惠企政策直达",
            outbox_dir=outbox_dir,
            sign_name=env.get("POLICY_PUSH_SMS_SIGN_NAME") or constants.SMS_SIGN_NAME,
            quiet_hours=quiet,
            sms_per_second=rate("POLICY_PUSH_SMS_PER_SECOND", constants.SMS_PER_SECOND),
            email_per_second=rate("POLICY_PUSH_EMAIL_PER_SECOND", constants.EMAIL_PER_SECOND),
            smtp_sessions=_smtp_sessions(env.get("POLICY_PUSH_SMTP_SESSIONS")),
            public_url=_public_url(env.get("POLICY_PUSH_PUBLIC_URL") or "http://127.0.0.1:8080"),
            secret_key=env.get("POLICY_PUSH_SECRET_KEY") or "",
            sms_report_token=env.get("POLICY_PUSH_SMS_REPORT_TOKEN") or None,
            stale_after=_stale_after(env.get("POLICY_PUSH_STALE_AFTER_DAYS")),
            firm_link_lifetime=_firm_link_lifetime(env.get("POLICY_PUSH_FIRM_LINK_DAYS")),
            digest_window=_digest_window(env.get("POLICY_PUSH_DIGEST_QUIET_MINUTES"), env.get("POLICY_PUSH_DIGEST_LONGEST_HOURS")),
        )


    def signing_key(self) -> str:
        """The configured secret, or one generated once and kept beside the outbox."""
        return self.secret_key or _local_secret(self.outbox_dir.parent / "secret_key")


#: More sessions than this is a mistake (relays refuse a client holding dozens).
_MOST_SMTP_SESSIONS = 64


def _smtp_sessions(raw: str | None) -> int:
    """A whole number of sessions, 1 to _MOST_SMTP_SESSIONS."""
    if raw is None or not raw.strip():
        return constants.SMTP_SESSIONS
    try:
        sessions = int(raw)
    except ValueError:
        raise NoticeSettingsError(f"POLICY_PUSH_SMTP_SESSIONS: {raw!r} is not a whole number") from None
    if not 1 <= sessions <= _MOST_SMTP_SESSIONS:
        raise NoticeSettingsError(f"POLICY_PUSH_SMTP_SESSIONS: must be between 1 and {_MOST_SMTP_SESSIONS}, got {sessions}")
    return sessions


def _stale_after(raw: str | None) -> datetime.timedelta | None:
    """Days as a whole number (0: held as soon as the window has closed), or `off`."""
    if raw is None or not raw.strip():
        return datetime.timedelta(days=constants.NOTICE_STALE_AFTER_DAYS)
    if raw.strip().lower() == "off":
        return None
    try:
        days = int(raw)
    except ValueError:
        raise NoticeSettingsError(f"POLICY_PUSH_STALE_AFTER_DAYS: {raw!r} is not a whole number of days or 'off'") from None
    if days < 0:
        raise NoticeSettingsError(f"POLICY_PUSH_STALE_AFTER_DAYS: must not be negative, got {days}")
    return datetime.timedelta(days=days)


def _digest_window(quiet: str | None, longest: str | None) -> outbox.DigestWindow | None:
    """Minutes of quiet (a positive whole number, or `off` for no waiting) and the longest wait in hours (a
    positive whole number, at least the quiet time)."""
    if quiet is not None and quiet.strip().lower() == "off":
        return None
    minutes = _whole("POLICY_PUSH_DIGEST_QUIET_MINUTES", quiet, constants.DIGEST_QUIET_MINUTES, "a whole number of minutes or 'off'")
    hours = _whole("POLICY_PUSH_DIGEST_LONGEST_HOURS", longest, constants.DIGEST_LONGEST_HOURS, "a whole number of hours")
    if hours * 60 < minutes:
        raise NoticeSettingsError(
            f"POLICY_PUSH_DIGEST_LONGEST_HOURS: {hours} h is shorter than the quiet time of {minutes} min (POLICY_PUSH_DIGEST_QUIET_MINUTES)"
        )
    return outbox.DigestWindow(datetime.timedelta(minutes=minutes), datetime.timedelta(hours=hours))


def _whole(name: str, raw: str | None, default: int, what: str) -> int:
    """A positive whole number from variable `name` (`default` when unset); errors name the variable."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise NoticeSettingsError(f"{name}: {raw!r} is not {what}") from None
    if value <= 0:
        raise NoticeSettingsError(f"{name}: must be positive, got {value}")
    return value


def _firm_link_lifetime(raw: str | None) -> datetime.timedelta:
    """Days as a positive whole number: a link that is dead on arrival would only confuse the firm."""
    return datetime.timedelta(days=_whole("POLICY_PUSH_FIRM_LINK_DAYS", raw, constants.FIRM_LINK_DAYS, "a whole number of days"))


def _public_url(raw: str) -> str:
    """The service's public address, as links in notices and the `List-Unsubscribe` header carry it.

    That header must be plain ASCII (RFC 2369/8058: mail clients read no URL in an encoded word),
    so a host in Chinese characters is refused here, at start, rather than every email failing later.
    """
    url = raw.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise NoticeSettingsError(f"POLICY_PUSH_PUBLIC_URL: {raw!r} is not an http(s) URL")
    if not url.isascii() or any(c.isspace() for c in url):
        raise NoticeSettingsError(
            f"POLICY_PUSH_PUBLIC_URL: {raw!r} must be plain ASCII without spaces (write an internationalised "
            "host in its xn-- form): it goes into the List-Unsubscribe header of every email"
        )
    return url


def _local_secret(path: pathlib.Path) -> str:
    """A key kept beside the embedded database, so links stay valid across restarts of `make run`."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
