"""A firm's registered name: trimmed as received, and its short form where a message has little room.

A registered name (企业名称) may run to 200 characters here (branches of groups, 经营场所 in
parentheses), while an SMS template parameter takes 35 (Aliyun) and the message itself has a
segment budget. The SMS therefore addresses the firm by a short form, the way a bureau writes
one by hand: the name itself if it fits; else without its organisational form (有限公司 …), then
without parentheticals (（分公司）, （有限合伙） …); else its front part with "…". The email and
the firm's page keep the full name.
"""

from __future__ import annotations

import re
import unicodedata

#: Organisational forms a short form may leave out, longest first so 股份有限公司 is not left as 股份.
ORGANISATION_FORMS = ("股份有限公司", "有限责任公司", "有限公司")
ELLIPSIS = "…"

_FORMS = re.compile("|".join(ORGANISATION_FORMS))
_PARENTHETICAL = re.compile(r"[（(][^（）()]*[）)]")
#: Unicode categories that show nothing: spaces, line and paragraph separators, control and format
#: characters (zero-width space, BOM), surrogates and unassigned code points.
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Cn"})


def is_visible(char: str) -> bool:
    """Whether `char` shows on screen (a private-use character does: rare 生僻字 live there)."""
    return unicodedata.category(char) not in _INVISIBLE


def trim(name: str) -> str:
    """The name without invisible characters at either end, its inner runs of spaces made one space."""
    start, end = 0, len(name)
    while start < end and not is_visible(name[start]):
        start += 1
    while end > start and not is_visible(name[end - 1]):
        end -= 1
    return " ".join(name[start:end].split())


def short_name(name: str, limit: int) -> str:
    """A form of the (trimmed) name of at most `limit` characters, never empty (see the module's rules)."""
    full = trim(name) or name.strip() or name
    if len(full) <= limit:
        return full
    for shorter in (_FORMS.sub("", full), _PARENTHETICAL.sub("", _FORMS.sub("", full))):
        shorter = trim(shorter)
        if shorter and len(shorter) <= limit:
            return shorter
        # A name that is nothing but its form (有限公司) keeps it: a short form is never empty.
        full = shorter or full
    if limit <= len(ELLIPSIS):
        return full[:max(limit, 1)]
    return trim(full[: limit - len(ELLIPSIS)]) + ELLIPSIS
