"""Notice reasons in Chinese (engine.console.reasons): every reason engine/notices can write has a
Chinese label, found by reading the code itself, and the console's pages show the Chinese."""

from __future__ import annotations

import ast
import itertools
import pathlib
import re

import pytest

import engine.notices
import engine.notices.channels
from engine.console import labels, reasons
from tests.console import conftest as console_conftest
from tests.notices import helpers

NOTICES = pathlib.Path(engine.notices.__file__).parent

#: Sample values for the parts of f-string reasons, by the expression's source text. A new f-string
#: reason with a part not listed here fails the scan below, naming it.
SAMPLES = {
    "channel": ["sms", "email"],
    "refused.isoformat()": ["2026-11-30T08:00:00+00:00"],
    "constants.NOTICE_SEND_TIMEOUT_SECONDS": ["30"],
    "result.reason": ["timeout: read timed out", "isv.BUSINESS_LIMIT_CONTROL: 触发小时级流控", "HTTP 503, answer is not JSON"],
    "attempts + 1": ["5"],
    "outcome": ["requeued", "released"],
    "operator": ["wang (operator)"],
    "item.get('err_code')": ["UNDELIV", "None"],
    "item.get('err_msg')": ["用户停机", "None"],
}
#: Reasons that are not text of engine/notices, by source: the producers of the first two are
#: functions whose returns the scan reads; the others are other modules' words, checked below.
ELSEWHERE = {
    "gap": "contact_gap's returns",
    "refusal": "opt_out_reason's and preference_refusal's returns",
    "result.reason": "a channel connector's reason (connectors/sms.py, connectors/email.py)",
    "str(exc)": "a template configuration error (engine/notices/render.py), for the administrator",
    "change.reason": "a transition's own reason, already one of these",
}
#: Functions whose return values are reasons.
PRODUCERS = re.compile(r"(_gap|_reason|_refusal)$")


def _alternatives(node: ast.expr, constants: dict[str, str]) -> list[str] | None:
    """The texts an expression can be (None: not text of this module, see ELSEWHERE)."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.IfExp):
        return (_alternatives(node.body, constants) or []) + (_alternatives(node.orelse, constants) or [])
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.Attribute) and ast.unparse(node) in constants:  # another module's, e.g. notice_rules.X
        return [constants[ast.unparse(node)]]
    if isinstance(node, ast.JoinedStr):
        parts: list[list[str]] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append([value.value])
            else:
                inner = value.value
                if isinstance(inner, ast.IfExp):
                    parts.append(_alternatives(inner, constants) or [])
                else:
                    source = ast.unparse(inner)
                    assert source in SAMPLES, f"add a sample for {source!r} (an f-string reason in engine/notices)"
                    parts.append(SAMPLES[source])
        return ["".join(p) for p in itertools.product(*parts)]
    source = ast.unparse(node)
    assert source in ELSEWHERE, f"a reason engine/notices writes from {source!r}: add it to the scan"
    return None


def reasons_in_notices() -> set[str]:
    """Every reason text engine/notices can write: `reason=` arguments, and what the functions
    producing reasons return."""
    found: set[str] = set()
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(NOTICES.rglob("*.py"))}
    own = {path: {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                  and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                  for target in node.targets if isinstance(target, ast.Name)}
           for path, tree in trees.items()}
    # A module's text constants, as other modules of engine/notices name them (withholding.WORKER_STOPPING).
    qualified = {f"{path.stem}.{name}": text for path, texts in own.items() for name, text in texts.items()}
    for path, tree in trees.items():
        constants = {**qualified, **own[path]}
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                values += [k.value for k in node.keywords if k.arg == "reason"]
            if isinstance(node, ast.FunctionDef) and PRODUCERS.search(node.name):
                values += [r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None]
            for value in values:
                if isinstance(value, ast.Constant) and value.value is None:
                    continue
                found |= set(_alternatives(value, constants) or [])
    return found


def test_every_reason_engine_notices_writes_has_a_chinese_label():
    found = reasons_in_notices()
    assert len(found) >= 20  # the scan really found them (both channels, both operator actions, …)
    assert {"SMS quiet hours", "no mobile number on file", "the benefit no longer applies to the firm"} <= found
    unlabelled = sorted(text for text in found if reasons.rule_for(text) is None)
    assert unlabelled == []
    for text in found:
        said = reasons.chinese(text)
        assert said != text and not re.search(r"\b(the|firm|notice|sent|no|on|of)\b", said), (text, said)


@pytest.mark.parametrize(("reason", "chinese"), [
    ("SMS quiet hours", "短信免打扰时段，推迟到可发送时再发"),
    ("no mobile number on file", "档案中没有手机号码，等待企业补充联系方式"),
    ("the firm opted out of sms on 2026-11-30T17:00:00+00:00", "企业已于 2026-12-01 01:00（北京时间）退订短信通知"),
    ("gave up after 5 attempts: timeout: read timed out", "尝试 5 次后放弃：连接邮件服务器超时：read timed out"),
    ("isv.BUSINESS_LIMIT_CONTROL: 触发小时级流控; not re-sent to avoid a duplicate SMS",
     "服务商返回 isv.BUSINESS_LIMIT_CONTROL：触发小时级流控；为避免重复短信不再重发"),
    ("requeued by wang (operator)", "由 wang (operator) 重新发送"),
    ("SMS_123 firm=某某公司: 25 characters, the provider accepts 1–20",
     "无法生成短信：模板 SMS_123 的参数 firm=某某公司 有 25 个字符，服务商只接受 1–20 个"),
    ("UNDELIV: None", "服务商返回 UNDELIV"),
    ("None: 用户停机", "服务商返回 用户停机"),
    ("None: None", "服务商未说明原因"),
    ("something new", "something new"),  # unknown: shown as it is, never hidden
    (None, ""),
])
def test_reasons_are_said_in_chinese(reason, chinese):
    assert reasons.chinese(reason) == chinese


def test_connector_reasons_have_labels():
    for text in ("cannot connect to dysmsapi.aliyuncs.com: [Errno 111] Connection refused", "answer has no Code",
                 "connection failed: [Errno 111]", "session refused: 535 auth failed", "refused: 550 no such user",
                 "invalid message: bad header", "HTTP 500, InternalError: 系统错误", "scripted dead",
                 "no answer within 10s; the provider may have accepted the message",
                 "ServerDisconnectedError: Server disconnected; the provider may have accepted the message"):
        assert reasons.rule_for(text) is not None, text


@console_conftest.SQL_ONLY
async def test_the_decision_and_firm_pages_show_reasons_in_chinese(console_client, login, store):
    # A firm without a mobile number: its SMS notice waits, with the reason "no mobile number on file".
    await helpers.feed(store, *helpers.eligible_firm_events(mobile=None))
    await helpers.make_worker(store)[0].run_once()
    [waiting] = [n for n in await store.firm_notices(helpers.FIRM) if n.channel == "sms"]
    assert waiting.reason == "no mobile number on file"
    await login(console_client, "wang", "viewer")
    for path in (f"/console/decisions/{waiting.decision_id}", f"/console/firms/{helpers.FIRM}"):
        html = await (await console_client.get(path)).text()
        assert "档案中没有手机号码" in html and "no mobile number" not in html, path


def outcomes_in_notices() -> set[str]:
    """Every attempt outcome engine/notices writes: the third argument or `outcome=` of a Transition,
    `outcome` arguments of the operator actions, the literals a receipt falls back to, the channels' outcomes."""
    found = {outcome.value for outcome in engine.notices.channels.Outcome}
    for path in sorted(NOTICES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            values = [k.value for k in node.keywords if k.arg == "outcome"]
            if name.endswith("Transition") and len(node.args) >= 3:
                values.append(node.args[2])
            if name == "_by_operator" and len(node.args) >= 6:
                values.append(node.args[5])
            for value in values:  # string literals, but not a call's arguments (item.get("err_code") is the provider's code)
                arguments = {id(a) for call in ast.walk(value) if isinstance(call, ast.Call) for a in call.args}
                found |= {c.value for c in ast.walk(value) if isinstance(c, ast.Constant) and isinstance(c.value, str) and id(c) not in arguments}
    return found


def test_every_attempt_outcome_has_a_chinese_label():
    found = outcomes_in_notices()
    assert {"quiet_hours", "requeued", "released", "sent", "dead", "DELIVERED"} <= found
    assert sorted(found - set(labels.OUTCOME)) == []
