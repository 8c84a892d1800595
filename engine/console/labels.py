"""Chinese labels for the codes the console shows (statuses, modes, channels, event types).

Kept in one place so pages, CSV headers and charts say the same thing; an unknown code is shown
as is rather than hidden, so a new status never disappears from an operator's view.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.core import industry_codes, regions
from engine.ingest import event_types

VERDICT = {"met": "符合", "not_met": "不符合", "unknown": "待补充数据"}

APPROVAL = {None: "—", "": "—", "pending": "待审批", "approved": "已批准", "rejected": "已驳回"}
#: Filter values for the approval state; "none" selects decisions that never went through the gate.
APPROVAL_FILTER = {"none": "无需审批", "pending": "待审批", "approved": "已批准", "rejected": "已驳回"}

MODE = {"auto_grant": "免申即享", "apply": "依申请", "inform": "告知"}

CHANNEL = {"sms": "短信", "email": "电子邮件"}

NOTICE_STATUS = {
    "pending": "待发送", "deferred": "已推迟", "sending": "发送中", "failed": "发送失败", "sent": "已发送",
    "delivered": "已送达", "undelivered": "未送达", "dead": "已终止", "skipped": "未发送（按规则跳过）",
    "waiting": "等待联系方式或授权", "held": "已暂缓（政策期限早已结束，待人工放行）",
}

#: What a notice tells (engine.notices.outbox): a first announcement or a change of its amount.
NOTICE_KIND = {"new": "首次通知", "addition": "追加通知", "adjustment": "金额调整通知"}

ATTEMPT_KIND = {
    "send": "发送", "receipt": "回执", "skip": "跳过", "wait": "等待联系方式", "defer": "推迟", "recover": "中断恢复",
    "compose": "生成内容", "operator": "人工重发",
    "contact": "联系方式到达", "release": "人工放行", "hold": "暂缓发送",
}

#: What an attempt on a notice came to (the outbox's `outcome`; a receipt's is the provider's own code,
#: shown as it is). tests/console/test_reasons.py holds this to engine/notices.
OUTCOME = {
    "sent": "服务商已受理", "retry": "暂时失败，稍后重试", "deferred": "服务商要求稍后再发", "dead": "已放弃",
    "no_longer_met": "不再符合，未发送", "waiting": "等待联系方式或授权", "skipped": "企业已退订，未发送",
    "preference": "按企业选择未发短信", "contact_arrived": "联系方式已到达", "held": "已暂缓，待人工放行",
    "interrupted": "发送中断", "released": "已放行", "requeued": "已重新排队", "quiet_hours": "免打扰时段，已推迟",
    "unrenderable": "无法生成通知内容", "DELIVERED": "回执：已送达", "FAILED": "回执：未送达",
}

#: Event types: each type's own label (engine/ingest/event_types), so a new type is labelled where it is declared.
EVENT_TYPE = event_types.REGISTRY.labels()

EVENT_STATUS = {"received": "已接收", "processed": "已处理", "failed": "处理失败"}

OP = {"eq": "等于", "ne": "不等于", "lt": "小于", "le": "不大于", "gt": "大于", "ge": "不小于", "in": "属于", "prefix": "前缀为"}

UNIT = {"yuan": "元", "percent": "%", "months": "个月", "none": ""}

#: A firm's answer on its own page (engine.firm_page).
FIRM_RESPONSE = {"confirm": "确认", "object": "有异议"}

#: What SMS a firm chose on its own page (engine.notices.outbox.SMS_PREFERENCES).
SMS_PREFERENCE = {"all": "全部短信", "grants_only": "仅免申即享短信", "none": "不接收短信"}

#: Timeline entry kinds on the firm page.
TIMELINE = {"event": "事件", "profile": "档案变更", "decision": "判定", "notice": "通知"}


def label(table: Mapping, code: object) -> str:
    """The Chinese label for `code`, or the code itself when the table does not know it."""
    try:
        return table.get(code, "" if code is None else str(code))
    except TypeError:  # unhashable values (a list in a condition) are shown as they are
        return str(code)


#: Profile fields and facts holding a GB/T 2260 code, shown by the region's name.
REGION_FIELDS = frozenset({"region", "county", "city", "province"})
#: Profile fields and facts holding a GB/T 4754 code, shown by the industry's name.
INDUSTRY_FIELDS = frozenset({"industry", "industry_section"})

def region_name(code: object) -> str:
    """The name of a region code or prefix as operators say it (engine.core.regions.display_name):
    "63" → 青海省, "6301" → 西宁市, "630104" → 西宁市城西区; "" when the code is not one in use."""
    return regions.display_name(str(code or "").strip())


def industry_name(code: object) -> str:
    """The Chinese name of a GB/T 4754-2017 industry code (F5211 → 百货零售), "" when unknown."""
    return (industry_codes.name(code) or "") if isinstance(code, str) else ""


#: Audit actions (engine.audit.Draft.action) in plain Chinese; a notice's change of state is named by its
#: new state (``notice.<status>``, NOTICE_STATUS). An action not listed here is shown as recorded.
AUDIT_ACTION = {
    "audit.checkpoint": "审计校验点",
    "clause.approval_gate": "设置二次确认", "decision.recorded": "记录判定",
    "decision.approved": "批准判定（二次确认）", "decision.rejected": "驳回判定（二次确认）",
    "firm.confirmed": "企业确认", "firm.objected": "企业提出异议", "firm.links_revoked": "撤销企业页面链接",
    "firm.sms_preference": "企业更改短信选择",
    "login.succeeded": "登录成功", "login.failed": "登录失败（密码错误）", "login.refused": "拒绝登录",
    "notice.created": "生成通知", "notice.released": "人工放行通知", "notice.requeued": "通知重新排队",
    "operator.created": "创建账号", "operator.disabled": "停用账号", "operator.password_reset": "重置密码",
    "operator.scope_changed": "更改可查看的地区",
    "token.created": "创建接口令牌", "token.revoked": "吊销接口令牌", "pii.viewed": "查看企业联系方式",
}


def audit_action(action: str) -> str:
    """An audit action as an officer reads it: its Chinese name, else (a notice's change of state) the
    state it went to, else the action as recorded."""
    if action in AUDIT_ACTION:
        return AUDIT_ACTION[action]
    kind, _, state = action.partition(".")
    if kind == "notice" and state in NOTICE_STATUS:
        return f"通知：{NOTICE_STATUS[state]}"
    return action
