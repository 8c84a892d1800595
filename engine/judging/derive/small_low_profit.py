"""小型微利企业 (small low-profit enterprise) for enterprise income tax.

Source: 财政部 税务总局《关于实施小微企业普惠性税收减免政策的通知》(财税〔2019〕13号) 第二条, restated
in 财政部 税务总局公告2022年第13号 and 2023年第12号: 从事国家非限制和禁止行业，且同时符合
年度应纳税所得额不超过300万元、从业人数不超过300人、资产总额不超过5000万元等三个条件的企业.
"""

from __future__ import annotations

MAX_TAXABLE_INCOME = 3_000_000.0  # yuan, 年度应纳税所得额不超过300万元
MAX_EMPLOYEES = 300  # 从业人数不超过300人
MAX_ASSETS = 50_000_000.0  # yuan, 资产总额不超过5000万元


def is_small_low_profit(
    taxable_income: float | None,
    employees: int | None,
    assets: float | None,
    *,
    restricted_industry: bool = False,
) -> bool | None:
    """Whether the firm is a 小型微利企业 per 财税〔2019〕13号 第二条 (limits inclusive: 不超过).

    ``restricted_industry``: the firm is in a 国家限制或禁止 industry. No firm data carries it,
    so callers pass the default False, i.e. that condition is treated as satisfied.
    从业人数 and 资产总额 are the year's quarterly averages, which is what the annual CIT filing
    reports, so the profile's CIT figures are used as they are.
    Returns False as soon as one known figure exceeds its limit, None if it hinges on a missing one.
    """
    if restricted_industry:
        return False
    checks = (
        (taxable_income, MAX_TAXABLE_INCOME),
        (employees, MAX_EMPLOYEES),
        (assets, MAX_ASSETS),
    )
    if any(value is not None and value > limit for value, limit in checks):
        return False
    if any(value is None for value, _ in checks):
        return None
    return True
