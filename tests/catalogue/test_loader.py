"""Strict loading of the document folders rules/<slug>/: every problem names the file and the key path."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from engine.judging.catalogue import loader, model
from tests.catalogue import numbering

TEXT = "（一）加力房租减免。2022年对省内承租国有房屋的服务业小微企业减免3个月租金。（省国资委牵头）"
DATE = "云南省人民政府办公厅2022年5月31日印发"
OTHER = "（二）加力税收优惠政策。全面落实各类税收优惠政策。"


def _clause(n: int = 1, **changes) -> dict:
    clause = {
        "id": f"yunnan-2022-2-{n}",
        "cite": f"yunnan-2022#二({'一二三四五'[n - 1]})",
        "title": "加力房租减免",
        "text": "（一）加力房租减免。2022年对省内承租国有房屋的\n服务业小微企业减免3个月  租金。",
        "category": "减免",
        "firm_facing": True,
        "mode": "auto_grant",
        "agencies": ["省国资委"],
        "jurisdiction": "530000",
        "valid_from": "2022-05-31",
        "valid_to": "2022-12-31",
        "basis": {"mode": {"quote": "服务业小微企业减免3个月租金", "reason": "ordered_waiver"},
                  "valid_to": {"quote": "2022年对省内承租国有房屋"}},
        "conditions": {"all": [
            {"attr": "tertiary", "op": "eq", "value": True, "quote": "服务业小微企业"},
            {"attr": "state_owned_lease", "op": "eq", "value": True, "quote": "承租国有房屋"},
        ]},
        "benefit": {"kind": "rent_waiver", "unit": "yuan", "description": "减免3个月租金",
                    "formula": "state_owned_monthly_rent * months",
                    "params": {"months": {"value": 3, "quote": "减免3个月"}}},
        "needs": [],
    }
    clause.update(changes)
    # The default's mode basis and formula quote the default text: another mode or text states its own.
    if clause["mode"] != "auto_grant" and "basis" not in changes:
        clause["basis"] = {"valid_to": clause["basis"]["valid_to"]}
    if "text" in changes and "benefit" not in changes:
        clause["benefit"] = {"kind": "rent_waiver", "unit": "none", "description": "减免租金"}
        if "basis" not in changes:
            clause["basis"] = {"valid_to": clause["basis"]["valid_to"]}
        if "mode" not in changes:
            clause["mode"] = "inform"  # nothing in the other text makes it automatic
    return clause


def _document(*clauses: dict, slug: str = "yunnan-2022") -> dict:
    return {
        "document": {"slug": slug, "title": "云南省工作方案", "number": None, "issuer": "云南省人民政府办公厅",
                     "jurisdiction": "530000", "valid_from": "2022-05-31", "valid_to": None,
                     "basis": {"valid_from": {"quote": "2022年5月31日印发"}, "valid_to": "unstated"}},
        "clauses": list(clauses) or [_clause()],
    }


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """A rules directory with the folder yunnan-2022/ holding its source text (no override of texts)."""
    rules = tmp_path / "rules"
    (rules / "yunnan-2022").mkdir(parents=True)
    (rules / "yunnan-2022" / "source.txt").write_text(f"标题\n{TEXT}\n{OTHER}\n{DATE}\n", encoding="utf-8")
    return rules, None


def _write(rules: Path, data: dict, name: str = "yunnan-2022") -> None:
    (rules / name).mkdir(exist_ok=True)
    (rules / name / "clauses.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _problems(dirs: tuple[Path, Path], data: dict) -> list[str]:
    rules, measures = dirs
    _write(rules, data)
    with pytest.raises(loader.CatalogueError) as caught:
        loader.load(rules, measures=measures)
    return list(caught.value.problems)


def test_a_valid_file_loads(dirs):
    rules, measures = dirs
    _write(rules, _document(_clause(), _clause(2, text=OTHER, title="税收", mode="apply", application="向税务部门申请")))
    catalogue = loader.load(rules, measures=measures)
    first, second = catalogue.clauses
    assert first.valid_from.isoformat() == "2022-05-31" and first.executable
    assert first.conditions == model.Group("all", (
        model.Leaf("tertiary", "eq", True, "all[0]", "服务业小微企业"),
        model.Leaf("state_owned_lease", "eq", True, "all[1]", "承租国有房屋"),
    ), "")
    assert first.benefit.inputs == {"state_owned_monthly_rent"}
    assert re.fullmatch(r"[0-9a-f]{12}", first.rule_version)
    assert second.application == "向税务部门申请"


def test_rule_version_follows_the_content(dirs):
    rules, measures = dirs
    _write(rules, _document(_clause()))
    before = loader.load(rules, measures=measures).clauses[0].rule_version
    _write(rules, _document(_clause()))
    assert loader.load(rules, measures=measures).clauses[0].rule_version == before
    _write(rules, _document(_clause(valid_to="2022-11-30")))
    assert loader.load(rules, measures=measures).clauses[0].rule_version != before


def test_executable_needs_conditions_and_no_needs(dirs):
    rules, measures = dirs
    _write(rules, _document(_clause(needs=["企业被拖欠账款的情况"], mode="inform"), _clause(2, text=OTHER, firm_facing=False,
                                                                    conditions=None, category="机构职责")))
    first, second = loader.load(rules, measures=measures).clauses
    assert not first.executable and first.needs == ("企业被拖欠账款的情况",)
    assert not second.executable and second.conditions is None


def _set(path: str, value):
    """A mutation of the valid document setting the key path (``a.b[0].c``); ``...`` deletes it."""
    def mutate(data: dict) -> dict:
        data = copy.deepcopy(data)
        keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
        node = data
        for key in keys[:-1]:
            node = node[key]
        if value is ...:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        return data
    return mutate


F = "rules/yunnan-2022/clauses.yaml: "


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set("clauses[0].foo", 1), "clauses[0].foo: unknown key"),
        (_set("clauses[0].title", ...), "clauses[0].title: missing required key"),
        (_set("document.issuer", ...), "document.issuer: missing required key"),
        (_set("clauses[0].valid_from", "2022-02-30"), "clauses[0].valid_from: bad date '2022-02-30'"),
        (_set("clauses[0].valid_to", "31/12/2022"), "clauses[0].valid_to: bad date '31/12/2022'"),
        (_set("clauses[0].valid_to", "2022-01-01"), "clauses[0].valid_to: 2022-01-01 is before valid_from"),
        (_set("document.valid_from", "2022-13-01"), "document.valid_from: bad date"),
        (_set("clauses[0].category", "补贴"), "clauses[0].category: bad category '补贴'"),
        (_set("clauses[0].mode", "auto"), "clauses[0].mode: bad mode 'auto'"),
        (_set("clauses[0].conditions.all[0].op", "between"), "clauses[0].conditions.all[0].op: bad op 'between'"),
        (_set("clauses[0].benefit.unit", "wan"), "clauses[0].benefit.unit: bad unit 'wan'"),
        (_set("clauses[0].conditions.all[1].attr", "foo"), "clauses[0].conditions.all[1].attr: unknown attribute 'foo'"),
        (_set("clauses[0].conditions.all[0].value", "yes"),
         "clauses[0].conditions.all[0].value: value 'yes' does not match the attribute type bool"),
        (_set("clauses[0].conditions.all[1]", {"attr": "employees", "op": "le", "value": "300", "quote": "小微企业"}),
         "clauses[0].conditions.all[1].value: value '300' does not match the attribute type float"),
        (_set("clauses[0].conditions.all[1]", {"attr": "insured_headcount", "op": "ge", "value": 2.5, "quote": "小微企业"}),
         "clauses[0].conditions.all[1].value: 2.5 is not a whole number"),
        (_set("clauses[0].conditions.all[1]", {"attr": "industry", "op": "lt", "value": 3, "quote": "小微企业"}),
         "clauses[0].conditions.all[1].value: lt needs a numeric attribute"),
        (_set("clauses[0].conditions.all[1]", {"attr": "industry_division", "op": "in", "value": [52, "62"], "quote": "小微企业"}),
         "clauses[0].conditions.all[1].value: value 52 does not match the attribute type str"),
        (_set("clauses[0].conditions.all[1]", {"attr": "industry_division", "op": "in",
                                               "value": [f"{n:02d}" for n in range(51)], "quote": "服务业"}),
         "clauses[0].conditions.all[1].value: in list has 51 values (at most 50)"),
        (_set("clauses[0].conditions.all[1]", {"attr": "revenue", "op": "gt", "value": 1e16, "quote": "小微企业"}),
         "clauses[0].conditions.all[1].value: 1e+16 is out of range"),
        (_set("clauses[0].conditions.all[1]", {"attr": "tertiary", "op": "eq", "quote": "小微企业"}),
         "clauses[0].conditions.all[1].value: missing required key"),
        (_set("clauses[0].conditions", {"all": [{"any": [{"all": [{"any": [{"all": [
            {"attr": "sme", "op": "eq", "value": True, "quote": "小微企业"}]}]}]}]}]}),
         "clauses[0].conditions.all[0].any[0].all[0].any[0]: conditions nested deeper than 4"),
        (_set("clauses[0].conditions", {"all": []}), "clauses[0].conditions.all: must be a non-empty list"),
        (_set("clauses[0].conditions", {"all": [], "any": []}), "clauses[0].conditions: must be a group"),
        (_set("clauses[0].id", "qinghai-2022-1"), "clauses[0].id: 'qinghai-2022-1' is not <slug>-<clause as ASCII>"),
        (_set("clauses[0].cite", "yunnan-2022-2-1"), "clauses[0].cite: 'yunnan-2022-2-1' is not of the form <slug>#<clause>"),
        (_set("clauses[0].cite", "qinghai-2022#(二)"), "clauses[0].cite: 'qinghai-2022#(二)': slug 'qinghai-2022' does not match"),
        (_set("clauses[0].text", "（一）加力房租减免。2022年对省内承租国有房屋的小微企业减免3个月租金。"),
         "clauses[0].text: not found verbatim in yunnan-2022/source.txt"),
        (_set("clauses[0].benefit.formula", "state_owned_monthly_rent *"), "clauses[0].benefit.formula: bad formula"),
        (_set("clauses[0].benefit.formula", "rent * 3"), "clauses[0].benefit.formula: bad formula 'rent * 3': unknown name 'rent'"),
        (_set("clauses[0].benefit.formula", "__import__('os')"), "clauses[0].benefit.formula: bad formula"),
        (_set("clauses[0].application", "去申请"), "clauses[0].application: only clauses of mode apply"),
        (_set("clauses[0].mode", "apply"), "clauses[0].application: must be a non-empty string"),
        (_set("clauses[0].jurisdiction", 530000), "clauses[0].jurisdiction: bad GB/T 2260 code 530000"),
        (_set("clauses[0].jurisdiction", "630000"), "clauses[0].jurisdiction: 630000 is outside the document's 530000"),
        (_set("clauses[0].firm_facing", False), "clauses[0].conditions: conditions on a clause that is not firm-facing"),
        (_set("document.slug", "yunnan"), "document.slug: 'yunnan' does not match the folder name"),
        (_set("clauses", []), "clauses: must be a non-empty list"),
        (_set("clauses[0].benefit.cap", {"amount": 0, "per": "year", "quote": "减免3个月"}),
         "clauses[0].benefit.cap.amount: 0 is not a positive amount"),
        (_set("clauses[0].benefit.cap", {"amount": 10, "per": "month", "quote": "减免3个月"}),
         "clauses[0].benefit.cap.per: bad cap period 'month' (one of year)"),
        (_set("clauses[0].benefit.cap", {"amount": 10, "per": "year", "quote": "每年最多10元"}),
         "clauses[0].benefit.cap.quote: not found in the clause's text"),
        (_set("clauses[0].benefit.cap", {"amount": 10, "per": "year"}), "clauses[0].benefit.cap.quote: missing required key"),
        (_set("clauses[0].benefit", {"kind": "rent_waiver", "unit": "yuan", "description": "减免",
                                     "cap": {"amount": 10, "per": "year", "quote": "减免3个月"}}),
         "clauses[0].benefit.cap: a cap limits what a formula computes: add a formula"),
        (_set("clauses[0].benefit.formula", "granted_year + 1"), "clauses[0].benefit.formula: bad formula 'granted_year + 1': unknown name"),
    ],
)
def test_each_problem_names_the_file_and_key(dirs, mutate, expected):
    problems = _problems(dirs, mutate(_document()))
    assert any(p.startswith(F + expected) for p in problems), problems


def test_a_cap_becomes_a_condition_and_caps_the_formula(dirs):
    rules, _ = dirs
    cap = {"amount": 20000, "per": "year", "quote": "减免3个月 租金"}
    _write(rules, _document(_set("benefit.cap", cap)(_clause())))
    (clause,) = loader.load(rules).clauses
    assert clause.cap == model.Cap(20000, "year", "减免3个月 租金")
    assert clause.benefit.formula == "max(0, min(state_owned_monthly_rent * 3, 20000) - granted_year)"  # params written in
    assert clause.benefit.inputs == {"state_owned_monthly_rent", model.GRANTED}
    assert list(clause.leaves())[-1] == model.Leaf(model.GRANTED, "lt", 20000, "benefit.cap", "减免3个月 租金")
    assert clause.accumulators() == {model.GRANTED} and clause.executable


def test_duplicate_ids_and_cites(dirs):
    problems = _problems(dirs, _document(_clause(), _clause(text=OTHER)))
    assert "yunnan-2022: id 'yunnan-2022-2-1' duplicated (also in yunnan-2022)" in problems
    assert "yunnan-2022: cite 'yunnan-2022#二(一)' duplicated (also in yunnan-2022)" in problems


def test_every_problem_is_listed_at_once(dirs):
    data = _set("clauses[0].category", "x")(_set("clauses[0].conditions.all[1].attr", "foo")(_document()))
    problems = _problems(dirs, data)
    assert len(problems) == 2
    error = loader.CatalogueError(problems)
    assert "2 problem(s)" in str(error) and all(p in str(error) for p in problems)


def test_duplicate_yaml_keys_and_bad_yaml(dirs):
    rules, measures = dirs
    (rules / "yunnan-2022" / "clauses.yaml").write_text("document: {}\ndocument: {}\nclauses: []\n", encoding="utf-8")
    with pytest.raises(loader.CatalogueError, match=r"rules/yunnan-2022/clauses.yaml: cannot read YAML: .*duplicate key 'document'"):
        loader.load(rules, measures=measures)
    (rules / "yunnan-2022" / "clauses.yaml").write_text("document: [\n", encoding="utf-8")
    with pytest.raises(loader.CatalogueError, match=r"rules/yunnan-2022/clauses.yaml: cannot read YAML"):
        loader.load(rules, measures=measures)


def test_missing_source_text(dirs):
    rules, _ = dirs
    (rules / "yunnan-2022" / "source.txt").unlink()
    _write(rules, _document())
    with pytest.raises(loader.CatalogueError, match="rules/yunnan-2022/clauses.yaml: no source text .*yunnan-2022/source.txt"):
        loader.load(rules)
    assert loader.load(rules, verify_texts=False).clauses


def test_stray_files_and_folders_are_problems(dirs):
    rules, _ = dirs
    _write(rules, _document())
    (rules / "datong-2022.yaml").write_text("document: {}\n", encoding="utf-8")
    (rules / "lvliang-2022").mkdir()
    with pytest.raises(loader.CatalogueError) as caught:
        loader.load(rules)
    assert list(caught.value.problems) == [
        "rules/datong-2022.yaml: a stray file; a document is a folder <slug>/ with clauses.yaml",
        "rules/lvliang-2022/: a folder without clauses.yaml",
    ]


def test_directories_come_from_the_environment(dirs, tmp_path, monkeypatch):
    rules, _ = dirs
    _write(rules, _document())
    monkeypatch.setenv(loader.RULES_DIR_VAR, str(rules))
    monkeypatch.delenv(loader.MEASURES_DIR_VAR, raising=False)
    assert [c.id for c in loader.load().clauses] == ["yunnan-2022-2-1"]
    # The optional override: a folder of <slug>.txt read instead of each folder's source.txt.
    override = tmp_path / "texts"
    override.mkdir()
    monkeypatch.setenv(loader.MEASURES_DIR_VAR, str(override))  # no texts there yet
    with pytest.raises(loader.CatalogueError, match="no source text .*texts/yunnan-2022.txt"):
        loader.load()
    (override / "yunnan-2022.txt").write_text(TEXT + DATE, encoding="utf-8")
    assert loader.load().clauses
    monkeypatch.setenv(loader.MEASURES_DIR_VAR, str(tmp_path / "absent"))
    assert loader.load(measures=override).clauses  # the parameter wins over the environment


def test_defaults_are_the_repository_dirs(monkeypatch):
    monkeypatch.delenv(loader.RULES_DIR_VAR, raising=False)
    monkeypatch.delenv(loader.MEASURES_DIR_VAR, raising=False)
    assert loader.rules_dir() == loader.REPO_ROOT / "rules"
    assert loader.measures_dir() is None  # every document folder brings its own text


def test_empty_rules_dir(tmp_path):
    with pytest.raises(loader.CatalogueError, match="no document folders"):
        loader.load(tmp_path)


# -- the real catalogue -----------------------------------------------------------------------

def test_full_catalogue_holds_every_numbered_clause_of_every_text_once(catalogue):
    # Each source text's own numbering (1., (一), 二(一) …) says which clauses the catalogue must hold.
    expected = numbering.by_document(loader.rules_dir(), catalogue)
    assert [d.slug for d in catalogue.documents] == sorted(p.name for p in loader.document_dirs())
    assert sorted(expected) == [d.slug for d in catalogue.documents]
    for slug, cites in expected.items():
        assert cites, f"no clause numbers found in {slug}/source.txt"
        # in document order; a clause of several parts is one entry per part, side by side
        assert list(dict.fromkeys(c.cite for c in catalogue.clauses if c.slug == slug)) == cites
    assert len({c.cite for c in catalogue.clauses}) == sum(map(len, expected.values()))


def test_all_cites_are_valid_and_unique(catalogue):
    cites = [c.cite for c in catalogue.clauses]
    parts = [(c.cite, c.part) for c in catalogue.clauses]
    assert len(set(parts)) == len(parts)  # entries sharing a cite are its parts, each named
    assert all(c.part for c in catalogue.clauses if cites.count(c.cite) > 1)
    for clause in catalogue.clauses:
        slug, _, number = clause.cite.partition("#")
        assert slug == clause.slug and number and not re.search(r"\s", number)
    assert {"datong-2022#15", "yangquan-chengqu-2023#14", "lvliang-2022#18", "qinghai-2022#(二)",
            "yunnan-2022#二(一)"} <= set(cites)


def test_catalogue_facts(catalogue):
    by_id = catalogue.by_id
    ip = by_id["lvliang-2022-18"]
    # The cap declared in the clause becomes its condition and the formula the evaluators run.
    assert ip.cap == model.Cap(2000000, "year", "对同一企业同一年度内的知识产权交易，最高补助不超过 200 万元")
    assert ip.benefit.formula == "max(0, min(0.2 * ip_buy_amount_year, 2000000) - granted_year)"
    assert list(ip.leaves())[-1] == model.Leaf(model.GRANTED, "lt", 2000000, "benefit.cap", ip.cap.quote)
    assert ip.accumulators() == {model.GRANTED}
    assert [c.id for c in catalogue.clauses if c.accumulators()] == ["lvliang-2022-18"]
    assert by_id["yunnan-2022-2-1"].valid_to.isoformat() == "2022-12-31"
    assert len({c.rule_version for c in catalogue.clauses}) == len(catalogue.clauses)
    assert all(c.conditions is None for c in catalogue.clauses if not c.firm_facing)
