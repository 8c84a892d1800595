"""The channels a delivery worker uses, chosen by configuration: SMTP and Aliyun when configured,
files under ./var/outbox otherwise (so `make run` shows real rendered notices)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from connectors import email as email_connector
from connectors import outbox_files, sms, smtp_pool
from engine import constants
from engine.notices import config, pacing, worker

log = logging.getLogger(__name__)


def build_channels(settings: config.NoticeSettings, environ: Mapping[str, str] | None = None) -> dict[str, worker.Channel]:
    """One worker.Channel per channel, with its sender, rate limit and (SMS) quiet hours."""
    env = os.environ if environ is None else environ
    if settings.smtp_url:
        email_sender = smtp_pool.SmtpPool(email_connector.SmtpSettings.from_url(settings.smtp_url), settings.smtp_sessions)
    else:
        log.info("no POLICY_PUSH_SMTP_URL: email notices are written to %s", settings.outbox_dir)
        email_sender = outbox_files.FileEmailSender(
            from_address=settings.mail_from, from_name=settings.mail_from_name, outbox=settings.outbox_dir
        )
    if env.get(sms.ACCESS_KEY_ID_VAR) or env.get(sms.ALIYUN_KEY_ID_VAR):
        sms_sender = sms.AliyunSmsSender(sms.AliyunSmsSettings.from_env(env))
    else:
        log.info("no Aliyun SMS credentials: SMS notices are written to %s", settings.outbox_dir)
        sms_sender = outbox_files.FileSmsSender(outbox=settings.outbox_dir)
    return {
        "sms": worker.Channel(sms_sender, pacing.RateLimiter(settings.sms_per_second), settings.quiet_hours,
                              concurrency=constants.SMS_SENDS_AT_ONCE),
        "email": worker.Channel(email_sender, pacing.RateLimiter(settings.email_per_second),
                                concurrency=settings.smtp_sessions if settings.smtp_url else 1),
    }
