"""Clause numbers as each document numbers them, read from its source text.

Tests compare these with the catalogue's cites, so no test pins how many clauses a document has:
the numbering scheme is taken from the cites' shape (rules/README.md), the numbers from the text.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.judging.catalogue import loader, model

_CN = "一二三四五六七八九十"
#: ``1.``/``1、``/``1 `` at the start of a line (arabic clause numbers).
_ARABIC = re.compile(r"^\s*([0-9]{1,2})\s*[.．、 ]", re.MULTILINE)
#: ``(一)``/``（一）`` anywhere.
_PAREN = re.compile(rf"[(（]([{_CN}]+)[)）]")
#: ``一、`` section headings at the start of a line.
_SECTION = re.compile(rf"^\s*(?:#+\s*)?([{_CN}]+)、", re.MULTILINE)


def chinese(n: int) -> str:
    """1–99 as a Chinese numeral (一, 十, 十一, 二十, 二十六)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CN[tens - 1] + "十")
    return head + (_CN[ones - 1] if ones else "")


def _in_order(found: list[str], label) -> list[str]:
    """The numbers 1, 2, 3 … in order, each at its first occurrence after the previous one."""
    numbers, n = [], 1
    for token in found:
        if token == label(n):
            numbers.append(token)
            n += 1
    return numbers


def numbers(text: str, sample_cite: str) -> list[str]:
    """Every clause number of ``text``, written as the catalogue cites them (``sample_cite`` shows how)."""
    number = sample_cite.partition("#")[2]
    if number.isdigit():
        return _in_order(_ARABIC.findall(text), str)
    if re.fullmatch(rf"\([{_CN}]+\)", number):
        return [f"({n})" for n in _in_order(_PAREN.findall(text), chinese)]
    if re.fullmatch(rf"[{_CN}]+\([{_CN}]+\)", number):
        heads, n = [], 1  # (position, numeral) of 一、 二、 … in order
        for match in _SECTION.finditer(text):
            if match.group(1) == chinese(n):
                heads.append((match.start(), match.group(1)))
                n += 1
        starts = [pos for pos, _ in heads] + [len(text)]
        out = []
        for (_, section), start, end in zip(heads, starts, starts[1:]):
            out += [f"{section}({n})" for n in _in_order(_PAREN.findall(text[start:end]), chinese)]
        return out
    raise ValueError(f"no numbering scheme for cites like {sample_cite!r}")


def by_document(rules: Path, catalogue: model.Catalogue) -> dict[str, list[str]]:
    """Slug → the cites its source text numbers (``<slug>#<number>``), for every document folder.

    The scheme comes from the first cite of the document in ``catalogue``; the numbers, from
    ``<rules>/<slug>/source.txt`` alone.
    """
    out = {}
    for document in catalogue.documents:
        sample = next(c.cite for c in catalogue.clauses if c.slug == document.slug)
        text = (rules / document.slug / loader.SOURCE_FILE).read_text(encoding="utf-8")
        out[document.slug] = [f"{document.slug}#{n}" for n in numbers(text, sample)]
    return out
