"""`policy-push templates lint`: every template renders for every firm-facing clause, within the SMS budget."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from engine.cli import templates as templates_cli
from engine.judging.catalogue import loader
from engine.notices import render


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def templates(tmp_path):
    target = tmp_path / "templates"
    shutil.copytree(render.templates_dir(), target)
    return target


@pytest.fixture
def rules(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(loader.REPO_ROOT / "rules", target)
    return target


def test_lint_passes_on_the_real_catalogue(runner, monkeypatch):
    monkeypatch.delenv(templates_cli.SEGMENT_BUDGET_VAR, raising=False)
    catalogue = loader.load(verify_texts=False)
    firm_facing = len(catalogue.firm_facing())
    # Every variant of every clause's notice: while its window is open, after it closed, and each change
    # of a computed amount.
    variants = sum(len(templates_cli.samples(catalogue, clause, "政策直达")) for clause in catalogue.firm_facing())
    assert variants > firm_facing
    overrides = len(render.clause_template_dirs())
    result = runner.invoke(templates_cli.templates, ["lint"])
    assert result.exit_code == 0, result.output
    assert f"ok: {firm_facing} firm-facing clauses × 4 templates ({overrides} with clause overrides)" in result.output
    # And a digest of each SMS variant, for a typical name, one of 40 characters and the longest.
    digests = len(templates_cli.digest_samples(catalogue, "政策直达"))
    assert digests == 12
    assert f"SMS segments (budget 2): {variants + digests}×2" in result.output


def test_lint_fails_on_a_digest_sms_over_the_budget(runner, templates):
    path = templates / "digest" / "grants_and_applications" / "sms.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("详见", "请登录贵单位的政策页面查看每一项的详细内容："), encoding="utf-8")
    result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "lint"])
    assert result.exit_code == 1
    over = [line for line in result.output.splitlines() if "over the budget" in line]
    assert over and all(line.startswith("digest/grants_and_applications/sms.txt") for line in over)


def test_an_sms_too_long_to_name_its_benefit_is_reported_counted_and_a_larger_budget_names_it(runner, templates):
    # Every SMS carries the link to the firm's page; one that cannot name its benefit within the budget is sent
    # as a digest of one (it counts the benefit, with the link), which lint checks fits.
    path = templates / "inform" / "sms.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("无需申请。", "无需申请，如有疑问请咨询责任单位。"), encoding="utf-8")
    result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "lint"])
    assert result.exit_code == 0, result.output
    counted = next(line for line in result.output.splitlines() if "sent counted, with the link" in line)
    assert "qinghai-2022-2-defer" in counted  # an inform clause with a long title
    # A larger budget, by option or by environment, names every benefit.
    for args, env in ((["--segments", "3"], None), ([], {templates_cli.SEGMENT_BUDGET_VAR: "3"})):
        result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "lint", *args], env=env)
        assert result.exit_code == 0 and "sent counted" not in result.output, result.output


def test_lint_fails_on_an_sms_without_the_link(runner, templates):
    path = templates / "inform" / "sms.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("详见{{ site }}/m/{{ link }} ", ""), encoding="utf-8")
    result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "lint"])
    assert result.exit_code == 1
    assert "inform/sms.txt: uses ['benefit', 'firm'] but sms_templates.yaml modes.inform declares ['firm', 'benefit', 'link']" in result.output


def test_lint_names_clause_and_template_on_a_render_error(runner, templates, rules):
    override = rules / "yunnan-2022" / "templates" / "yunnan-2022-2-1" / "email.html"
    override.write_text(override.read_text(encoding="utf-8").replace("{{ lead_agency }}", "{{ hotline }}"), encoding="utf-8")
    result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "--rules-dir", str(rules), "lint"])
    assert result.exit_code == 1
    assert "yunnan-2022-2-1: clauses/yunnan-2022-2-1/email.html: UndefinedError: 'hotline' is undefined" in result.output


def test_lint_catches_a_template_that_drops_a_required_fact(runner, templates):
    (templates / "inform" / "email.txt").write_text("{{ firm_name }}：{{ clause_title }}\n", encoding="utf-8")
    result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "lint"])
    assert result.exit_code == 1
    assert "datong-2022-7: inform/email.txt: does not show '市发改委、市税务局" in result.output
    assert "datong-2022-7: inform/email.txt: does not show 'https://policy-push.example.cn/unsubscribe/" in result.output


def test_lint_refuses_sms_templates_a_provider_could_not_hold(runner, templates, rules):
    (templates / "inform" / "sms.txt").write_text(
        "【提示】{{ firm }}{{ basis }}“{{ benefit|upper }}”{% if agency %}{{ agency }}{% endif %}，{{ window }}。回T退订\n",
        encoding="utf-8",
    )
    (rules / "datong-2022" / "templates" / "datong-2022-7").mkdir(parents=True)
    (rules / "datong-2022" / "templates" / "datong-2022-7" / "sms.txt").write_text("{{ firm }}：你好。回T退订\n", encoding="utf-8")
    result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "--rules-dir", str(rules), "lint"])
    assert result.exit_code == 1
    assert "inform/sms.txt: variables firm and basis are adjacent (providers refuse that)" in result.output
    assert "inform/sms.txt: 【】 is reserved for the signature" in result.output
    assert "inform/sms.txt: only {{ name }} substitutions are allowed (found Filter)" in result.output
    assert "inform/sms.txt: only {{ name }} substitutions are allowed (found If)" in result.output
    assert "clauses/datong-2022-7/sms.txt: needs its own entry under 'clauses' in sms_templates.yaml" in result.output


def test_lint_reports_a_broken_sms_config(runner, templates):
    (templates / render.SMS_CONFIG).write_text("modes:\n  inform:\n    params: [firm]\n", encoding="utf-8")
    result = runner.invoke(templates_cli.templates, ["--templates-dir", str(templates), "lint"])
    assert result.exit_code == 1
    assert "modes.inform: needs a template_code" in result.output


def test_sms_lists_the_provider_templates(runner):
    result = runner.invoke(templates_cli.templates, ["sms"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.splitlines()]
    assert [row[0] for row in rows] == ["SMS_POLICY_AUTO_GRANT", "SMS_POLICY_APPLY", "SMS_POLICY_INFORM",
                                        "SMS_POLICY_RENT_WAIVER", "SMS_POLICY_ADDITION", "SMS_POLICY_ADJUSTMENT",
                                        "SMS_POLICY_DIGEST_GRANTS", "SMS_POLICY_DIGEST_MIXED", "SMS_POLICY_DIGEST_APPLY",
                                        "SMS_POLICY_DIGEST_NEWS", "SMS_POLICY_DIGEST_CHANGES"]
    assert rows[7][3] == "${firm}：已为您办理${granted}项惠企政策（${total}），另有${applicable}项可申请。详见${site}/m/${link} 回T退订"
    inform = rows[2]
    assert inform[2] == "firm,benefit,link"
    assert inform[3] == "${firm}：“${benefit}”适用于贵单位，无需申请。详见${site}/m/${link} 回T退订"
