"""normalise: the documents' words as readers see them, the PDF extraction's artefacts removed.

The examples are the artefacts as they stand in the rule files (each test first checks that the
verbatim text really carries it); the properties pin what normalise must never do.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from engine.cli import rules as cli
from engine.core.cjk_text import normalise
from engine.judging.catalogue import loader


@pytest.fixture(scope="module")
def texts():
    catalogue = loader.load(verify_texts=False)
    return {clause.id: clause.text for clause in catalogue.clauses}


@pytest.mark.parametrize(("clause_id", "broken", "fixed"), [
    ("yunnan-2022-2-1", "机关事 业单位", "机关事业单位"),
    ("yunnan-2022-2-1", "３个月租 金", "3个月租金"),
    ("yunnan-2022-1-1", "省级中 小企业", "省级中小企业"),
    ("yunnan-2022-2-4", "支持中 小微企业", "支持中小微企业"),
    ("datong-2022-26", "提升创 新能力", "提升创新能力"),
    # ASCII "." ending a Chinese sentence, also before full-width digits and after ” or ％
    ("yunnan-2022-1-1", "直达快享.在２０２２年初", "直达快享。在2022年初"),
    ("yunnan-2022-2-1", "加力房租减免.２０２２年", "加力房租减免。2022年"),
    ("yunnan-2022-2-1", "减免６个月租金.鼓励各", "减免6个月租金。鼓励各"),
    ("yunnan-2022-1-2", "“应享尽享”.省财政", "“应享尽享”。省财政"),
    ("yunnan-2022-2-4", "４％－６％.政府采购", "4％－6％。政府采购"),
    # a line break between a closing word and an opening quote
    ("yunnan-2022-1-2", "策 “应知尽知”", "策“应知尽知”"),
])
def test_the_artefacts_of_the_texts_are_repaired(texts, clause_id, broken, fixed):
    assert broken in texts[clause_id]  # the artefact is really there
    shown = normalise(texts[clause_id])
    assert fixed in shown
    assert broken not in shown


def test_a_whole_clause_reads_as_printed(texts):
    shown = normalise(texts["yunnan-2022-2-1"])
    assert shown.startswith(
        "(一)加力房租减免。2022年对省内承租国有企业、机关事业单位国有房屋的服务业小微企业和个体工商户减免3个月租金,"
    )
    assert not re.search(r"[０-９Ａ-Ｚａ-ｚ]", shown)
    assert not re.search(r"[\u4e00-\u9fff]\s+[\u4e00-\u9fff]", shown)


@pytest.mark.parametrize(("text", "shown"), [
    ("机关事\n业单位", "机关事业单位"),
    ("机关事\u3000业单位", "机关事业单位"),  # the ideographic space
    ("  中小\r\n\t 企业  ", "中小企业"),
    ("ＡＰＥＣ中小企业技术交流", "APEC中小企业技术交流"),
    ("２０２２\n年", "2022年"),  # the break falls inside full-width text
    ("不超过 200 万元", "不超过 200 万元"),  # a space beside ASCII digits is the document's own
    ("参加 APEC 技展会", "参加 APEC 技展会"),
    ("1.5万元；10.加强", "1.5万元；10.加强"),  # decimals and numbered lists keep their "."
    ("见附件.docx", "见附件.docx"),
    ("等等...", "等等..."),
    ("结束.", "结束。"),
    ("（一）“专精特新”：企业、个体；户。", "（一）“专精特新”：企业、个体；户。"),  # Chinese punctuation kept
    ("营业收入１００万元以下，增长率５％", "营业收入100万元以下，增长率5％"),
    ("Small  and\nmicro   firms", "Small and micro firms"),
])
def test_rules(text, shown):
    assert normalise(text) == shown


#: Text as the documents mix it: ideographs, Chinese and ASCII punctuation, full-width and ASCII
#: digits and letters, whitespace of every kind.
_CHARS = st.sampled_from(
    list("中小微企业机关事业单位年月日万元“”‘’（）、，。：；！？《》—…·％－")
    + list("０１２９ＡＺａｚ0129AZaz,;:()%-.") + [" ", "\n", "\t", "\u3000", "\r"]
)
mixed = st.text(_CHARS, max_size=40)
clean = st.text(st.sampled_from(list("中小微企业年月日万元“”（）、，。：；《》—％0129AZaz,;:()%-")), max_size=40)
word = st.text(st.sampled_from(list("abcxyzABC")), min_size=1, max_size=8)


def _letters(text: str) -> str:
    """The words of a text without what normalise may change: whitespace, widths, the period."""
    text = re.sub(r"\s", "", text).replace("。", ".")
    return text.translate({c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c).isalnum()})


@given(mixed)
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once


@given(clean)
def test_a_text_without_artefacts_is_unchanged(text):
    assert normalise(text) == text


@given(mixed, word, word, mixed)
def test_a_space_between_latin_words_stays(before, left, right, after):
    assert f"{left} {right}" in normalise(f"{before}{left} {right}{after}")


@given(mixed)
def test_only_whitespace_widths_and_periods_change(text):
    assert _letters(normalise(text)) == _letters(text)


# -- the quotation check keeps reading the verbatim text ----------------------------------------

MISSING = "rules/yunnan-2022/clauses.yaml: clauses[{index}].text: not found verbatim in yunnan-2022/source.txt (whitespace ignored)"


def _lint(rules) -> object:
    return CliRunner().invoke(cli.rules, ["--rules-dir", str(rules), "lint"])


def test_lint_checks_quotations_against_the_verbatim_text(tmp_path, monkeypatch):
    monkeypatch.delenv(loader.MEASURES_DIR_VAR, raising=False)
    rules = tmp_path / "rules"
    shutil.copytree(loader.REPO_ROOT / "rules" / "yunnan-2022", rules / "yunnan-2022")
    clauses = rules / "yunnan-2022" / "clauses.yaml"
    original = clauses.read_text(encoding="utf-8")
    assert _lint(rules).exit_code == 0  # the verbatim quotation, artefacts and all, is found

    # The quotation in its display form (2022 for ２０２２, 。 for .) is not what the document says.
    catalogue = loader.load(rules, verify_texts=False)
    clause = catalogue.by_id["yunnan-2022-2-1"]
    data = yaml.safe_load(original)
    [index] = [i for i, raw in enumerate(data["clauses"]) if raw["id"] == clause.id]
    data["clauses"][index]["text"] = clause.display_text
    clauses.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = _lint(rules)
    assert result.exit_code == 1
    assert result.output.splitlines() == [MISSING.format(index=index), "1 problem(s)"]

    # A changed word of the verbatim quotation is caught as before.
    clauses.write_text(original.replace("机关事\n      业单位", "机关事\n      业单元"), encoding="utf-8")
    assert original != clauses.read_text(encoding="utf-8")
    result = _lint(rules)
    assert result.exit_code == 1
    assert result.output.splitlines() == [MISSING.format(index=index), "1 problem(s)"]
