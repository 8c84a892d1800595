"""Notices show the clause's words as printed, not as the PDF extraction broke them.

Real clauses whose rule-file text carries the extraction's artefacts, rendered by the real
renderer: the SMS and both email bodies carry the repaired words and none of the broken ones.
"""

from __future__ import annotations

import pytest

from engine.core import matching
from engine.judging.catalogue import loader
from engine.notices import content, render

FIRM = "云南示例商贸有限公司"


@pytest.fixture(scope="module")
def catalogue():
    return loader.load(verify_texts=False)


def notice(catalogue, clause_id: str) -> content.NoticeContent:
    clause = catalogue.by_id[clause_id]
    decision = matching.Decision(clause.id, clause.cite, clause.rule_version, matching.Verdict.MET, amount=24000.0)
    return content.build(catalogue, decision, {"uscc": "91530102MA6K0XBX2E", "name": FIRM},
                         notice_id="ntc_words", sign_name="政策直达", unsubscribe_url="https://push.example.cn/u/x",
                         short_link="91530102MA6K0XBX2E00000ABCDEFGHIJ", site="https://push.example.cn")


@pytest.mark.parametrize(("clause_id", "broken", "printed"), [
    ("yunnan-2022-2-1", ["机关事 业单位", "租 金", "２０２２", "６个月", "租金.鼓励"],
     ["机关事业单位", "减免3个月租金", "2022年对省内", "减免6个月租金。鼓励各"]),
    ("datong-2022-26", ["提升创 新能力"], ["提升创新能力"]),
    # the summary (政策内容) too: a line break after "；" in the description
    ("qinghai-2022-3", ["税费优惠政策； 另可"], ["税费优惠政策；另可通过12366热线"]),
])
def test_the_email_shows_the_clause_as_printed(catalogue, clause_id, broken, printed):
    clause = catalogue.by_id[clause_id]
    words = f"{clause.text} {clause.benefit.description}"
    assert all(b in words for b in broken)  # the rule file really carries each artefact
    email = render.render_email(notice(catalogue, clause_id), "finance@example.cn")
    for body in (email.subject, email.text, email.html):
        assert not [b for b in broken if b in body]
    for body in (email.text, email.html):
        assert all(p in body for p in printed), body


def test_the_sms_shows_the_title_as_printed(catalogue):
    # The SMS names the clause by its title; this title has a space between two Chinese words.
    assert catalogue.by_id["lvliang-2022-23"].title == "开展“政策找企业 服务到企业”系列活动"
    n = notice(catalogue, "lvliang-2022-23")
    sms = render.render_sms(n, "+8613800138000")
    assert "“开展“政策找企业服务到企业”系列活动”" in sms.text
    assert sms.params["benefit"] == "开展“政策找企业服务到企业”系列活动"
    email = render.render_email(n, "finance@example.cn")
    assert "政策找企业 服务到企业" not in email.subject + email.text + email.html
