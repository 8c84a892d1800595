"""Firms whose stored decisions depend on facts outside their own profile, for the calculator tests.

Both are built through signed webhooks and the pipeline (tests/seams/helpers.py), so the stored
decision is the one the service made.
"""

from __future__ import annotations

from typing import Any

from tests import factories

# yunnan-2022#二(一): "２０２２年对省内承租国有企业、机关事业单位国有房屋的服务业小微企业和个体工商户减免３个月租金,
# 其中,对２０２２年被列为疫情中高风险区所在县级行政区域内的服务业小微企业和个体工商户,减免６个月租金"
RENT_CLAUSE = "yunnan-2022-2-1"
MONTHLY_RENT = 11_300
MONTHS, RISK_AREA_MONTHS = 3, 6
COUNTY = "530102"  # 昆明市五华区
RENTER = factories.uscc(751, region=COUNTY)

# lvliang-2022#18: "对交易中的买方…给予不超过交易金额的 20% 资金补助，对同一企业同一年度内的知识产权交易，
# 最高补助不超过 200 万元"
IP_CLAUSE = "lvliang-2022-18"
IP_BUYER = factories.uscc(752, region="141102")  # 吕梁市离石区


def renter_in_a_risk_county() -> list[tuple[dict[str, Any], str]]:
    """A small retailer in 五华区 renting from a state-owned enterprise; in June 2022 the county is
    designated a medium risk area, which re-judges the firm."""
    return [
        (factories.event(firm=RENTER, region=COUNTY, industry="F5211", occurred_at="2022-06-01T09:00:00+08:00"), "calc-reg"),
        (factories.event("tax.cit_filed", firm=RENTER, occurred_at="2022-06-02T09:00:00+08:00", year=2021,
                         taxable_income=500_000, revenue=3_000_000, assets=2_000_000, employees=20), "calc-cit"),
        (factories.event("lease.reported", firm=RENTER, occurred_at="2022-06-05T09:00:00+08:00",
                         landlord_type="state_owned_enterprise", monthly_rent=MONTHLY_RENT), "calc-lease"),
        (factories.event("region.risk_designated", county=COUNTY, year=2022, level="medium",
                         occurred_at="2022-06-20T09:00:00+08:00"), "calc-risk"),
    ]


def buyer_past_the_yearly_cap() -> list[tuple[dict[str, Any], str]]:
    """A 吕梁 firm whose first IP purchase of 2022 uses up the clause's yearly cap; a second follows."""

    def purchase(at: str, amount: float, transaction_id: str) -> dict[str, Any]:
        return factories.event("ip.transaction", firm=IP_BUYER, occurred_at=f"{at}T10:00:00+08:00",
                               transaction_id=transaction_id, role="buyer", amount=amount, date=at)

    return [
        (factories.event(firm=IP_BUYER, region="141102", occurred_at="2022-05-01T09:00:00+08:00"), "calc-ip-reg"),
        (purchase("2022-06-01", 12_000_000, "IP-1"), "calc-ip1"),  # 20% is 2,400,000: capped at 2,000,000
        (purchase("2022-09-01", 1_000_000, "IP-2"), "calc-ip2"),  # the year's cap is used up
    ]


# lvliang-2022#15: "优先支持创建县建设省级和国家级小微企业双创基地；组织高校专家与创建县开展智力服务和科技成果转化对接
# 工作；在实施企业家能力素质提升培训工程中专门组织举办创建县中小企业素质提升培训"
DEMO_CLAUSE = "lvliang-2022-15"
DEMO_COUNTY, OTHER_COUNTY = "141181", "141182"  # 孝义市 is named a 创建县; 汾阳市 is not
DEMO_FIRM = factories.uscc(753, region=DEMO_COUNTY)
OTHER_FIRM = factories.uscc(754, region=OTHER_COUNTY)


def smes_before_a_demo_county_is_named() -> list[tuple[dict[str, Any], str]]:
    """A small manufacturer in 孝义 and one in 汾阳, each with its 2021 CIT filing (small: 60 staff,
    18,000,000 yuan revenue); in July 2022 the city names 孝义 a 创建县, which re-judges 孝义's firms."""
    events = []
    for uscc, county, tag in ((DEMO_FIRM, DEMO_COUNTY, "xy"), (OTHER_FIRM, OTHER_COUNTY, "fy")):
        events += [
            (factories.event(firm=uscc, region=county, industry="C3391", occurred_at="2022-05-01T09:00:00+08:00"), f"demo-reg-{tag}"),
            (factories.event("tax.cit_filed", firm=uscc, occurred_at="2022-05-20T09:00:00+08:00", year=2021,
                             taxable_income=900_000, revenue=18_000_000, assets=12_000_000, employees=60), f"demo-cit-{tag}"),
        ]
    return events + [(factories.event("region.demo_county_designated", county=DEMO_COUNTY, year=2022,
                                      occurred_at="2022-07-15T09:00:00+08:00"), "demo-county")]
