"""Enterprise size class per 工信部联企业〔2011〕300号《中小企业划型标准规定》.

The thresholds below are 第四条 of the 规定, row by row, in the document's own units
(人 and 万元) so they can be checked against it line by line; amounts are converted to yuan
when compared. Industry codes are mapped to its rows following the code table of
国家统计局《统计上大中小微型企业划分办法（2017）》(国统字〔2017〕213号), which applies the
规定 to GB/T 4754-2017.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.judging.derive.sectors import parse_industry

LARGE, MEDIUM, SMALL, MICRO = "大型", "中型", "小型", "微型"
_TIERS = (LARGE, MEDIUM, SMALL, MICRO)

#: Indicators: X 从业人员 (persons), Y 营业收入 (万元), Z 资产总额 (万元).
EMPLOYEES, REVENUE, ASSETS = "employees", "revenue", "assets"
_WAN = 10_000  # yuan per 万元


class Indicator(NamedTuple):
    """One indicator of a row: the lower bounds of 大型, 中型 and 小型 (below 小型 is 微型)."""

    field: str
    large: int
    medium: int
    small: int


#: 300号 第四条（一）–（十六）. Each row lists its indicators; 大型、中型、小型 must meet the lower
#: bound of every indicator, otherwise the firm drops a class ("否则下划一档"), and 微型 needs to
#: fall below just one ("微型企业只须满足所列指标中的一项即可").
ROWS: dict[str, tuple[Indicator, ...]] = {
    "农林牧渔业": (Indicator(REVENUE, 20000, 500, 50),),
    "工业": (Indicator(EMPLOYEES, 1000, 300, 20), Indicator(REVENUE, 40000, 2000, 300)),
    "建筑业": (Indicator(REVENUE, 80000, 6000, 300), Indicator(ASSETS, 80000, 5000, 300)),
    "批发业": (Indicator(EMPLOYEES, 200, 20, 5), Indicator(REVENUE, 40000, 5000, 1000)),
    "零售业": (Indicator(EMPLOYEES, 300, 50, 10), Indicator(REVENUE, 20000, 500, 100)),
    "交通运输业": (Indicator(EMPLOYEES, 1000, 300, 20), Indicator(REVENUE, 30000, 3000, 200)),
    "仓储业": (Indicator(EMPLOYEES, 200, 100, 20), Indicator(REVENUE, 30000, 1000, 100)),
    "邮政业": (Indicator(EMPLOYEES, 1000, 300, 20), Indicator(REVENUE, 30000, 2000, 100)),
    "住宿业": (Indicator(EMPLOYEES, 300, 100, 10), Indicator(REVENUE, 10000, 2000, 100)),
    "餐饮业": (Indicator(EMPLOYEES, 300, 100, 10), Indicator(REVENUE, 10000, 2000, 100)),
    "信息传输业": (Indicator(EMPLOYEES, 2000, 100, 10), Indicator(REVENUE, 100000, 1000, 100)),
    "软件和信息技术服务业": (Indicator(EMPLOYEES, 300, 100, 10), Indicator(REVENUE, 10000, 1000, 50)),
    "房地产开发经营": (Indicator(REVENUE, 200000, 1000, 100), Indicator(ASSETS, 10000, 5000, 2000)),
    "物业管理": (Indicator(EMPLOYEES, 1000, 300, 100), Indicator(REVENUE, 5000, 1000, 500)),
    "租赁和商务服务业": (Indicator(EMPLOYEES, 300, 100, 10), Indicator(ASSETS, 120000, 8000, 100)),
    "其他未列明行业": (Indicator(EMPLOYEES, 300, 100, 10),),
}

#: (门类, leading digits, row). The longest matching prefix wins; row None = outside the 规定's rows.
_INDUSTRY_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("A", "", "农林牧渔业"),
    # 工业 = 采矿业 B, 制造业 C, 电力、热力、燃气及水生产和供应业 D (300号 第三条).
    ("B", "", "工业"), ("C", "", "工业"), ("D", "", "工业"),
    ("E", "", "建筑业"),
    ("F", "51", "批发业"), ("F", "52", "零售业"),
    # 交通运输业 "不含铁路运输业": G53 falls in no row.
    ("G", "53", None),
    ("G", "54", "交通运输业"), ("G", "55", "交通运输业"), ("G", "56", "交通运输业"),
    ("G", "57", "交通运输业"), ("G", "58", "交通运输业"),
    # In 4754-2017 大类 59 is 装卸搬运和仓储业: 装卸搬运 (591) counts as 交通运输业 in the
    # 2017 统计办法, the storage classes 592–599 as 仓储业.
    ("G", "59", "仓储业"), ("G", "591", "交通运输业"),
    ("G", "60", "邮政业"),
    ("H", "61", "住宿业"), ("H", "62", "餐饮业"),
    # 信息传输业 = 电信、广播电视和卫星传输服务 (63) + 互联网和相关服务 (64).
    ("I", "63", "信息传输业"), ("I", "64", "信息传输业"),
    ("I", "65", "软件和信息技术服务业"),
    # 金融业 has its own standard (银发〔2015〕309号, by assets), so the 规定 is not applied.
    ("J", "", None),
    ("K", "701", "房地产开发经营"), ("K", "702", "物业管理"),
    # 其他未列明行业 includes 房地产中介服务 703 and 其他房地产业 709 but "不包括自有房地产经营
    # 活动" (now 704 房地产租赁经营).
    ("K", "703", "其他未列明行业"), ("K", "704", None), ("K", "709", "其他未列明行业"),
    ("L", "", "租赁和商务服务业"),
    # 其他未列明行业 lists 科学研究和技术服务业 M, 水利、环境和公共设施管理业 N, 居民服务、修理和
    # 其他服务业 O, 社会工作 (Q85), 文化、体育和娱乐业 R.
    ("M", "", "其他未列明行业"), ("N", "", "其他未列明行业"), ("O", "", "其他未列明行业"),
    ("Q", "85", "其他未列明行业"), ("R", "", "其他未列明行业"),
    # Outside the 2017 统计办法's scope: 教育 P, 卫生 Q84, 公共管理 S, 国际组织 T. The 规定
    # (第六条) only says such industries are classified "参照本规定" without naming a row, so we
    # leave them unknown rather than guess.
    ("P", "", None), ("Q", "84", None), ("S", "", None), ("T", "", None),
)


def industry_row(industry: str | None) -> str | None:
    """The 300号 row (a key of :data:`ROWS`) for a GB/T 4754-2017 code, or None.

    None when the code is invalid, falls outside every row (金融业, 铁路运输业, 教育, 卫生,
    公共管理, 国际组织, 房地产租赁经营), or is too coarse to pick one row (e.g. "K70", "G59", "G").
    Mapping per 国家统计局《统计上大中小微型企业划分办法（2017）》 and 300号 第三条.
    """
    parsed = parse_industry(industry)
    if not parsed:
        return None
    section, digits = parsed
    best: tuple[str, str | None] | None = None  # (prefix, row) of the longest rule covering the code
    finer: set[str | None] = set()  # rows of rules that split the code further
    for rule_section, prefix, row in _INDUSTRY_ROWS:
        if rule_section != section:
            continue
        if digits.startswith(prefix):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, row)
        elif prefix.startswith(digits):
            finer.add(row)
    rows = finer | ({best[1]} if best else set())
    if len(rows) != 1:
        return None  # no rule, or the code spans rows that differ
    return rows.pop()


def _tier(indicator: Indicator, value: float) -> int:
    """0 大型 … 3 微型 on one indicator; money thresholds are 万元, values yuan."""
    scale = 1 if indicator.field == EMPLOYEES else _WAN
    for tier, bound in enumerate((indicator.large, indicator.medium, indicator.small)):
        if value >= bound * scale:
            return tier
    return 3


def size_class(
    industry: str | None,
    employees: int | None,
    revenue: float | None,
    assets: float | None,
) -> str | None:
    """大型 / 中型 / 小型 / 微型 per 工信部联企业〔2011〕300号 第四条.

    ``employees`` is 从业人员 (persons); ``revenue`` 营业收入 and ``assets`` 资产总额 are yuan.
    A firm takes the highest class whose lower bounds it meets on *every* indicator of its row
    ("大型、中型和小型企业须同时满足所列指标的下限，否则下划一档").
    Returns None when the industry maps to no row (see :func:`industry_row`) or a needed
    indicator is missing — except that falling below the 小型 bound on any one known indicator
    already makes the firm 微型 whatever the missing one is.
    """
    row = industry_row(industry)
    if row is None:
        return None
    values = {EMPLOYEES: employees, REVENUE: revenue, ASSETS: assets}
    tiers = [_tier(ind, values[ind.field]) for ind in ROWS[row] if values[ind.field] is not None]
    missing = len(tiers) < len(ROWS[row])
    worst = max(tiers, default=None)
    if worst == 3:
        return MICRO
    if missing or worst is None:
        return None
    return _TIERS[worst]
