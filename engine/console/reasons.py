"""Why a notice is where it is, in Chinese: the `reason` kept on notices and their attempts, said.

The notices keep their reasons in English (they are also log lines, written by engine.notices and
the channel connectors); operators read them here, on every console page that shows one, through
`chinese(reason)` (the template filter `reason`). The words are the glossary's (``notice_reasons`` of
engine/core/data/glossary.yaml): an exact string, or a pattern whose named parts are carried over —
a time said in Beijing time (`at`), a channel by its label (`channel`), a reason within a reason
(`inner`), an SMTP failure (`what`) and an operator's action (`action`) through their tables, the
provider's own code and words (`said`) as the provider wrote them. tests/console/test_reasons.py checks
that every reason engine/notices can write is matched.

A reason no rule knows is shown as it is, never hidden (a new reason should be added to the glossary).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from engine.core import glossary
from engine.core.china_time import CHINA_TZ

_REASONS = glossary.load().reasons
_CHANNEL = glossary.load().table("channel")

#: Reasons written word for word.
EXACT: Mapping[str, str] = _REASONS.exact
#: Reasons with variable parts, tried in order.
RULES: tuple[glossary.ReasonPattern, ...] = _REASONS.patterns


def _when(text: str) -> str:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _parts(found: Mapping[str, str | None]) -> dict[str, str]:
    """The named parts of a matched reason, each as the Chinese says it."""
    parts = {name: value or "" for name, value in found.items()}
    for name, value in list(parts.items()):
        if name == "at":
            parts[name] = _when(value)
        elif name == "channel":
            parts[name] = _CHANNEL.get(value, value)
        elif name == "inner":
            parts[name] = chinese(value)
        elif name == "what":
            parts[name] = _REASONS.smtp.get(value, value)
        elif name == "action":
            parts[name] = _REASONS.operator_actions.get(value, value)
    if "code" in parts and "message" in parts:
        # A receipt may lack the code or the message ("None"): say what the provider gave.
        parts["said"] = "：".join(part for part in (parts["code"], parts["message"]) if part != "None")
    return parts


def rule_for(reason: str) -> str | None:
    """The name of the rule that says `reason` in Chinese ("exact" for a word-for-word one), or None."""
    if reason in EXACT:
        return "exact"
    return next((rule.name for rule in RULES if rule.pattern.fullmatch(reason)), None)


def chinese(reason: object) -> str:
    """`reason` as operators read it (Chinese); an unknown reason as it is, "" for none."""
    if reason is None or reason == "":
        return ""
    text = str(reason)
    if text in EXACT:
        return EXACT[text]
    for rule in RULES:
        found = rule.pattern.fullmatch(text)
        if found:
            parts = _parts(found.groupdict())
            if "said" in parts and not parts["said"]:
                return _REASONS.provider_silent
            return rule.say.format_map(parts)
    return text
