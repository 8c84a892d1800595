"""A decision's explanation and a clause's rule in words (engine.console.explain): formulas, conditions
and groups as officers read them, with no attribute code, Python or English left."""

from __future__ import annotations

import re

import pytest

from engine.console import explain
from engine.judging.catalogue import loader

_CODE = re.compile(r"[A-Za-z_]{2,}")


def _text(node) -> str:
    """A tree of sentences as plain text, codes in small type left out."""
    if isinstance(node, explain.Group):
        return node.heading + "：" + "；".join(_text(child) for child in node.children)
    claim = re.sub(r'<small class="code muted">[^<]*</small>', "", str(node.claim))
    basis = f"（依据：“{node.quote}”）" if node.quote else ""
    return re.sub(r"<[^>]+>", "", claim) + basis + (f"：{node.answer}" if node.verdict else "")


@pytest.mark.parametrize("clause", [c for c in loader.load().clauses if c.conditions is not None or c.benefit is not None],
                         ids=lambda c: c.id)
def test_every_clause_of_the_rules_reads_without_codes(clause):
    if clause.benefit is not None and clause.benefit.formula:
        words = explain.formula_words(clause.benefit.formula)
        assert not _CODE.search(words) and "*" not in words, words
    if clause.conditions is not None:
        words = _text(explain.clause_conditions(clause.conditions))
        assert not _CODE.search(words.replace("A", "").replace("B", "")), words


def test_a_formula_reads_in_words():
    assert explain.formula_words("max(0, min(0.2 * ip_buy_amount_year, 2000000) - granted_year)") == (
        "（0、（（（0.2 × 本年度买入知识产权的交易金额）、2,000,000中的较小者） － 本年度已按此项政策兑现的金额）中的较大者）")
    assert explain.formula_words("loan_new_year * 0.05 if not (layoffs_year > 0 or county_risk_2022) else 0") == (
        "（并非（本年度裁员人数大于0或所在县（市、区）2022年是否被列为中高风险地区为“是”）时取 本年度新增贷款金额 × 0.05，否则取 0）")
    assert explain.formula_words("import os") == "import os"  # not a formula the rules allow: shown as written


def test_conditions_of_a_decision_read_as_groups_of_sentences():
    entries = [
        {"path": "all[0]", "attr": "tertiary", "op": "eq", "required": True, "seen": True, "verdict": "met", "quote": "服务业"},
        {"path": "all[1].any[0]", "attr": "small_micro", "op": "eq", "required": True, "seen": None, "verdict": "unknown"},
        {"path": "all[1].any[1]", "attr": "legal_form", "op": "eq", "required": "individual_business", "seen": "enterprise",
         "verdict": "not_met"},
        {"path": "all[2]", "attr": "vat_monthly_sales", "op": "le", "required": 150000, "seen": 180000.0, "verdict": "not_met"},
        {"path": "all[3]", "attr": "cert_little_giant_date", "op": "ge", "required": 20220227, "seen": 20230101,
         "verdict": "met"},
    ]
    tree = explain.conditions(entries, {"all[1].any[1]": "个体工商户"})
    assert _text(tree) == (
        "满足以下全部条件：属于服务业（依据：“服务业”）：是 ✓；"
        "满足以下任一条件：小微企业：待补充数据；企业类型（组织形式）为个体工商户（依据：“个体工商户”）：否 ✗；"
        "增值税月销售额不超过150,000.00元：否 ✗；获评专精特新“小巨人”企业的日期不早于2022-02-27：是 ✓")
    seen = [child.seen for child in tree.children if isinstance(child, explain.Sentence)]
    assert seen == [None, "180,000.00元", "2023-01-01"]
    # A decision recorded before positions were kept: its conditions, in order, under one group.
    flat = explain.conditions([{"attr": "sme", "op": "eq", "required": True, "seen": False, "verdict": "not_met"}])
    assert _text(flat) == "中小企业：否 ✗"
    assert explain.conditions([]) is None


def test_regions_and_industries_read_by_name_with_the_code_in_small_type():
    [sentence] = [explain.sentence({"attr": "industry_division", "op": "in", "required": ["52", "62"]})]
    assert str(sentence.claim) == ('所属行业大类属于<span class="industry-name">零售业</span> <small class="code muted">52</small>、'
                                   '<span class="industry-name">餐饮业</span> <small class="code muted">62</small>')
    assert explain.fact("region", "530102") == (
        "注册地所在县（市、区）", '<span class="region-name">昆明市五华区</span> <small class="code muted">530102</small>')
    assert explain.field("leases.L-1.monthly_rent", 8000) == ("房屋租赁 L-1：月租金", "8,000.00元")
    assert explain.field("unknown.path", "<b>") == ("unknown.path", "&lt;b&gt;")  # shown as it is, escaped
