"""GB/T 2260 administrative-division codes: county → city → province.

Names and validity come from python-stdnum's ``cn/loc`` table (compiled from the
中华人民共和国行政区划代码 lists), where a name may carry its years of use, e.g.
"[1983-]城区" (still in use) or "[-2010]崇文区" (abolished).
"""

from __future__ import annotations

import re
from functools import lru_cache

from stdnum import numdb

#: Codes standing for the whole country; a national measure's jurisdiction may use either.
NATIONAL_CODES = frozenset({"000000", "100000"})

_CODE = re.compile(r"[0-9]{6}")
_SPAN = re.compile(r"^\[(\d*)-(\d*)\](.*)$")


@lru_cache(maxsize=1)
def _db():
    return numdb.get("cn/loc")


@lru_cache(maxsize=4096)
def _names(code: str) -> tuple[str | None, str | None]:
    """(province name, raw name of the 6-digit code) from stdnum, None where not listed."""
    province = name = None
    for part, props in _db().info(code):
        if len(part) == 2:
            province = props.get("province")
        elif len(part) == 4:
            name = props.get("county")
    return province, name


def _current(raw: str | None) -> str | None:
    """The name now in use out of "[1986-1989]义马市,[1997-]济源市", or None if none is."""
    if not raw:
        return None
    for entry in raw.split(","):
        m = _SPAN.match(entry.strip())
        if m is None:
            return entry.strip()  # no years: in use throughout
        if not m.group(2):
            return m.group(3)  # open-ended span: still in use
    return None


def _listed(code: str) -> bool:
    return isinstance(code, str) and bool(_CODE.fullmatch(code)) and _names(code)[1] is not None


def region_name(code: str) -> str | None:
    """Current name of a GB/T 2260 code (e.g. "140302" → "城区"), None if unknown or abolished."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        return None
    return _current(_names(code)[1])


#: GB/T 2260 entries that group counties without being a place of their own (not shown as a parent).
_GROUPINGS = frozenset({"市辖区", "县", "省直辖县级行政单位", "自治区直辖县级行政单位", "省直辖县级行政区划", "自治区直辖县级行政区划"})


def display_name(code: str) -> str:
    """The name of a region code or prefix as operators say it: "63" → 青海省, "6301" or "630100" →
    西宁市, "630104" → 西宁市城西区, "110101" → 北京市东城区; "" when the code is not one in use."""
    text = code if isinstance(code, str) else ""
    if not text.isdigit() or len(text) not in (2, 4, 6):
        return ""
    padded = text.ljust(6, "0")
    name = region_name(padded)
    if not name or name in _GROUPINGS:
        return ""
    if padded.endswith("00"):
        return name
    for parent in (padded[:4] + "00", padded[:2] + "0000"):  # the city, else (直辖市, 省直辖县) the province
        above = region_name(parent)
        if above and above not in _GROUPINGS:
            return above + name
    return name


def is_known_region(code: str) -> bool:
    """True if ``code`` is a GB/T 2260 code currently in use (per stdnum's cn/loc table).

    Abolished codes (e.g. 110103 崇文区, merged in 2010) are not known, so a stale code in a
    profile surfaces instead of silently matching measures of a region that no longer exists.
    """
    return region_name(code) is not None


def _is_municipality(code: str) -> bool:
    # 直辖市 (北京、天津、上海、重庆) are the provinces whose name is a 市.
    province = _names(code)[0]
    return bool(province) and province.endswith("市")


def _has_counties(city: str) -> bool:
    """Whether a city-level code has county-level units of its own still in use."""
    return any(
        region_name(f"{city[:4]}{n:02d}") not in (None, "市辖区") for n in range(1, 100)
    )


def ancestry(code: str) -> tuple[str | None, str | None, str] | None:
    """(county, city, province) codes for a GB/T 2260 code, or None if stdnum does not list it.

    * 直辖市 (11, 12, 31, 50): the city is the municipality itself (XX0000); their
      "市辖区" (XX0100) and "县" (500200) entries are groupings, not cities.
    * 省/自治区直辖县级行政单位 (XX90YY, e.g. 419001 济源市, 429004 仙桃市, 469001 五指山市):
      they have no prefecture, so each stands as its own city; XX9000 is only a grouping.
    * Prefecture-level cities without counties (441900 东莞市, 442000 中山市, 460400 儋州市,
      620200 嘉峪关市) are their own county too.
    * Any other city-level code (XXYY00) has no county; a province-level code has neither,
      except that a 直辖市 is also its own city.
    Historic codes are resolved too (their ancestry is what it was), so old records still place.
    """
    if not _listed(code):
        return None
    province = code[:2] + "0000"
    if _is_municipality(code):
        return (None if code.endswith("00") else code), province, province
    if code == province:
        return None, None, province
    if code[2:4] == "90":
        return (None, None, province) if code.endswith("00") else (code, code, province)
    city = code[:4] + "00"
    if code == city:
        return (None if _has_counties(city) else code), city, province
    return code, (city if _listed(city) else None), province


def in_jurisdiction(region: str, jurisdiction: str) -> bool:
    """Whether ``region`` lies within the ``jurisdiction`` of an issuing government.

    Codes nest by prefix (GB/T 2260): XX0000 covers XX****, XXYY00 covers XXYY**, and any
    other code covers only itself; "000000"/"100000" stand for the whole country.
    E.g. 530000 covers 530102; 140200 covers 140212 but not 140302; 140302 covers only itself.
    A malformed ``region`` is never inside; a malformed ``jurisdiction`` raises ValueError,
    since it comes from the rule files and must be fixed there.
    """
    if not isinstance(jurisdiction, str) or not _CODE.fullmatch(jurisdiction):
        raise ValueError(f"not a GB/T 2260 code: {jurisdiction!r}")
    if not isinstance(region, str) or not _CODE.fullmatch(region):
        return False
    if jurisdiction in NATIONAL_CODES:
        return True
    if jurisdiction.endswith("0000"):
        return region[:2] == jurisdiction[:2]
    if jurisdiction.endswith("00"):
        return region[:4] == jurisdiction[:4]
    return region == jurisdiction
