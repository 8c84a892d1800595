"""Notice content → channel messages, through the Jinja2 templates in ``templates/``.

Layout (per mode ``auto_grant`` / ``apply`` / ``inform``): ``<mode>/sms.txt``,
``<mode>/email_subject.txt``, ``<mode>/email.txt`` and ``<mode>/email.html``; a clause may
replace any of them with ``<name>`` in its document's folder, ``rules/<slug>/templates/<clause_id>/``
(named ``clauses/<clause_id>/<name>`` among the templates). ``sms_templates.yaml`` maps each SMS
template to the provider's reviewed template code and its parameter names.

An SMS template sees only its parameters (all strings), exactly what the provider substitutes
into the reviewed template, so the audit text is the text the firm receives.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

from engine import constants
from engine.core import firm_names
from engine.notices import channels
from engine.notices import content as content_module
from engine.notices import digest as digest_module

TEMPLATES_DIR_VAR = "POLICY_PUSH_TEMPLATES_DIR"
#: Where the document folders are (the catalogue loader reads the same variable and default).
RULES_DIR_VAR = "POLICY_PUSH_RULES_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Template names of clause overrides start with this, e.g. ``clauses/yunnan-2022-2-1/sms.txt``.
CLAUSE_PREFIX = "clauses"
SMS_CONFIG = "sms_templates.yaml"
#: Template file names of one notice, in the order lint reports them.
TEMPLATE_NAMES = ("sms.txt", "email_subject.txt", "email.txt", "email.html")
MODES = ("auto_grant", "apply", "inform")
#: Notices of a changed amount (engine.notices.outbox): their SMS is ``<kind>/sms.txt`` under ``changes``
#: in sms_templates.yaml; their email is the mode's, which shows the change.
CHANGES = ("addition", "adjustment")

#: Aliyun accepts 1–35 characters per template variable; longer values are refused at send time.
SMS_PARAM_MAX_CHARS = constants.SMS_PARAM_MAX_CHARS
#: Suffix of the stable Message-ID, so a resent notice is recognisable downstream.
MESSAGE_ID_DOMAIN = "policy-push"


class TemplateConfigError(ValueError):
    """The templates directory or sms_templates.yaml is inconsistent (fix the files, not the data)."""


class SmsParamError(ValueError):
    """A parameter value the provider would refuse (empty, or over :data:`SMS_PARAM_MAX_CHARS`)."""


@dataclasses.dataclass(frozen=True)
class SmsSpec:
    """One reviewed SMS template: file, provider code, parameter names."""

    template: str
    template_code: str
    params: tuple[str, ...]
    #: Shown as ``amount`` where the decision computed none.
    amount_fallback: str | None = None


def _basis(c: content_module.NoticeContent) -> str:
    # The 文号 identifies the document in fewer characters than its title; the title where none.
    return (c.document_number or f"《{c.document_title}》") + c.clause_ref


def _window(c: content_module.NoticeContent) -> str:
    if c.valid_to is None:
        return "未规定截止日期"
    if c.window_closed:
        return f"已于{content_module.chinese_date(c.valid_to)}到期"
    return f"至{content_module.chinese_date(c.valid_to)}"


#: What a firm must do about a changed amount, per mode (a change is only ever told of an amount).
CHANGE_NEED = {"auto_grant": "无需申请", "apply": "需主动申请"}

#: Every parameter an SMS template may use, and how it is derived from the content.
SMS_PARAMS: Mapping[str, Callable[[content_module.NoticeContent], str | None]] = {
    # The short form (content.firm_short_name): a registered name may be 200 characters.
    "firm": lambda c: c.firm_short_name,
    "basis": _basis,
    "benefit": lambda c: c.clause_title,
    "amount": lambda c: c.amount_text,
    "agency": lambda c: c.lead_agency,
    "window": _window,
    "deadline": lambda c: c.deadline_short,
    "previous": lambda c: c.previous_amount_text,
    "total": lambda c: c.total_amount_text,
    "reason": lambda c: c.reason_short,
    "need": lambda c: CHANGE_NEED.get(c.mode),
    # The short link's token to the firm's page; the site before it is part of the filed template.
    "link": lambda c: c.short_link,
}


#: Every parameter a digest's SMS template may use (sms_templates.yaml `digest`), from the digest's content.
DIGEST_PARAMS: Mapping[str, Callable[[digest_module.DigestContent], str]] = {
    "firm": lambda d: d.first.firm_short_name,
    "granted": lambda d: str(len(d.granted)),
    "applicable": lambda d: str(len(d.applicable)),
    "count": lambda d: str(len(d.items)),
    "total": lambda d: d.granted_total_text,
    # The short link's token; the site before it is part of the filed template (the bureau's own domain).
    "link": lambda d: d.short_link,
}
#: Fixed parts of an SMS template that are not parameters: the service's address, filed with the template
#: (every SMS carries the link to the firm's page, ``{{ site }}/m/{{ link }}``).
SMS_FIXED = frozenset({"site"})


def templates_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The templates directory: ``path``, else $POLICY_PUSH_TEMPLATES_DIR, else the repository's templates/."""
    return Path(path or os.environ.get(TEMPLATES_DIR_VAR) or REPO_ROOT / "templates")


def clause_template_dirs(rules: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Clause id → its override folder ``<rules>/<slug>/templates/<clause_id>/`` (rules: ``rules``,
    else $POLICY_PUSH_RULES_DIR, else the repository's rules/)."""
    folder = Path(rules or os.environ.get(RULES_DIR_VAR) or REPO_ROOT / "rules")
    return {path.name: path for path in sorted(folder.glob("*/templates/*")) if path.is_dir()}


class Renderer:
    """Templates of one directory and the clause overrides of the document folders: a Jinja2
    environment plus the SMS template codes."""

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, rules: str | os.PathLike[str] | None = None
    ) -> None:
        self.directory = templates_dir(directory)
        #: Clause id → the folder of its override templates.
        self.clause_templates = clause_template_dirs(rules)
        overrides = jinja2.FileSystemLoader(sorted({p.parent for p in self.clause_templates.values()}), encoding="utf-8")
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader([
                jinja2.PrefixLoader({CLAUSE_PREFIX: overrides}),
                jinja2.FileSystemLoader(self.directory, encoding="utf-8"),
            ]),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.modes, self.clauses, self.changes, self.digests = _load_sms_config(self.directory / SMS_CONFIG)

    def template_name(self, clause_id: str, mode: str, name: str) -> str:
        """The file used for ``name``: the clause's override if there is one, else the mode's."""
        folder = self.clause_templates.get(clause_id)
        return f"{CLAUSE_PREFIX}/{clause_id}/{name}" if folder and (folder / name).is_file() else f"{mode}/{name}"

    def sms_template_name(self, clause_id: str, mode: str, kind: str = "new") -> str:
        """The SMS template file of a notice: the change's for a changed amount, else as template_name."""
        return f"{kind}/sms.txt" if kind in CHANGES else self.template_name(clause_id, mode, "sms.txt")

    def sms_spec(self, clause_id: str, mode: str, kind: str = "new") -> SmsSpec:
        """The SMS template of a clause (of a change of its amount, for `kind` addition or adjustment); a
        clause override needs its own entry (its own code)."""
        if kind in CHANGES:
            if kind not in self.changes:
                raise TemplateConfigError(f"{SMS_CONFIG}: no SMS template for changes.{kind}")
            return self.changes[kind]
        name = self.template_name(clause_id, mode, "sms.txt")
        if name.startswith(f"{CLAUSE_PREFIX}/"):
            spec = self.clauses.get(clause_id)
            if spec is None:
                raise TemplateConfigError(f"{name}: no entry for {clause_id} under 'clauses' in {SMS_CONFIG}")
            return spec
        if mode not in self.modes:
            raise TemplateConfigError(f"{SMS_CONFIG}: no SMS template for mode {mode!r}")
        return self.modes[mode]

    def sms_variables(self, template: str) -> frozenset[str]:
        """The variables an SMS template uses."""
        return _variables(self.env, template)

    def sms_params(self, content: content_module.NoticeContent, spec: SmsSpec) -> dict[str, str]:
        """The provider parameters for ``content``: exactly ``spec.params``, every value a short string."""
        params: dict[str, str] = {}
        for name in spec.params:
            value = SMS_PARAMS[name](content)
            if value is None and name == "amount":
                value = spec.amount_fallback
            value = _one_line(value or "")
            if not 1 <= len(value) <= SMS_PARAM_MAX_CHARS:
                raise SmsParamError(
                    f"{spec.template_code} {name}={value!r}: {len(value)} characters, "
                    f"the provider accepts 1–{SMS_PARAM_MAX_CHARS}"
                )
            params[name] = value
        return params

    def render_sms(self, content: content_module.NoticeContent, phone: str) -> channels.SmsMessage:
        """The SMS notice: template code + parameters for the provider, the rendered text for audit."""
        spec = self.sms_spec(content.clause_id, content.mode, content.kind)
        used = self.sms_variables(spec.template)
        if used != frozenset(spec.params) | SMS_FIXED:
            raise TemplateConfigError(
                f"{spec.template}: uses {sorted(used)} but {SMS_CONFIG} declares {list(spec.params)} and the fixed {sorted(SMS_FIXED)}"
            )
        params = self.sms_params(content, spec)
        fixed = {"site": content.site}
        text = _fitted(params, content.firm_name, lambda p: self._sms_text(content.sign_name, spec, p, fixed))
        return channels.SmsMessage(
            notice_id=content.notice_id,
            phone=phone,
            sign_name=content.sign_name,
            template_code=spec.template_code,
            params=params,
            text=text,
            out_id=content.notice_id,
        )

    def _sms_text(self, sign_name: str, spec: SmsSpec, params: Mapping[str, str], fixed: Mapping[str, str] | None = None) -> str:
        """The SMS as the firm reads it: signature and the template with its parameters substituted."""
        return f"【{sign_name}】{self.env.get_template(spec.template).render({**(fixed or {}), **params}).strip()}"

    def digest_spec(self, variant: str) -> SmsSpec:
        """The SMS template of a digest of this variant (digest.VARIANTS)."""
        if variant not in self.digests:
            raise TemplateConfigError(f"{SMS_CONFIG}: no SMS template for digest.{variant}")
        return self.digests[variant]

    def render_digest_sms(self, digest: digest_module.DigestContent, phone: str) -> channels.SmsMessage:
        """One SMS for several notices: how many were done and how many may be applied for, with the link."""
        spec = self.digest_spec(digest.variant)
        used = self.sms_variables(spec.template)
        if used != frozenset(spec.params) | SMS_FIXED:
            raise TemplateConfigError(
                f"{spec.template}: uses {sorted(used)} but {SMS_CONFIG} declares {list(spec.params)} and the fixed {sorted(SMS_FIXED)}"
            )
        params = {name: _one_line(DIGEST_PARAMS[name](digest)) for name in spec.params}
        for name, value in params.items():
            if not 1 <= len(value) <= SMS_PARAM_MAX_CHARS:
                raise SmsParamError(f"{spec.template_code} {name}={value!r}: {len(value)} characters, the provider accepts 1–{SMS_PARAM_MAX_CHARS}")
        fixed = {"site": digest.site}
        text = _fitted(params, digest.first.firm_name, lambda p: self._sms_text(digest.first.sign_name, spec, p, fixed))
        return channels.SmsMessage(
            notice_id=digest.digest_id, phone=phone, sign_name=digest.first.sign_name, template_code=spec.template_code,
            params=params, text=text, out_id=digest.digest_id,
        )

    def render_digest_email(self, digest: digest_module.DigestContent, to: str) -> channels.EmailMessage:
        """One email listing every item of a digest in full."""
        values = digest.template_vars()
        subject, text, html = (
            self.env.get_template(f"digest/{name}").render(values) for name in ("email_subject.txt", "email.txt", "email.html")
        )
        return channels.EmailMessage(
            notice_id=digest.digest_id, to=to, subject=_one_line(subject), text=text.strip() + "\n", html=html.strip() + "\n",
            headers={
                "List-Unsubscribe": f"<{digest.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "X-Notice-Id": digest.digest_id,
            },
            message_id=f"{digest.digest_id}@{MESSAGE_ID_DOMAIN}",
        )

    def render_email(self, content: content_module.NoticeContent, to: str) -> channels.EmailMessage:
        """The email notice: subject, text and HTML bodies, one-click unsubscribe headers."""
        values = content.template_vars()
        subject, text, html = (
            self.env.get_template(self.template_name(content.clause_id, content.mode, name)).render(values)
            for name in ("email_subject.txt", "email.txt", "email.html")
        )
        return channels.EmailMessage(
            notice_id=content.notice_id,
            to=to,
            subject=_one_line(subject),  # a newline in a header would end it
            text=text.strip() + "\n",
            html=html.strip() + "\n",
            headers={
                "List-Unsubscribe": f"<{content.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "X-Notice-Id": content.notice_id,
            },
            message_id=f"{content.notice_id}@{MESSAGE_ID_DOMAIN}",
        )


@functools.lru_cache(maxsize=8)
def _renderer(directory: Path, rules: str | None) -> Renderer:
    return Renderer(directory, rules=rules)


def renderer(directory: str | os.PathLike[str] | None = None) -> Renderer:
    """The (cached) renderer of a templates directory (default: see :func:`templates_dir`) and of
    the clause overrides in the rules directory of the moment ($POLICY_PUSH_RULES_DIR)."""
    return _renderer(templates_dir(directory).resolve(), os.environ.get(RULES_DIR_VAR))


def render_email(
    content: content_module.NoticeContent, to: str, *, templates: str | os.PathLike[str] | None = None
) -> channels.EmailMessage:
    """Render the email notice for ``content`` to address ``to`` (see :meth:`Renderer.render_email`)."""
    return renderer(templates).render_email(content, to)


def render_sms(
    content: content_module.NoticeContent, phone: str, *, templates: str | os.PathLike[str] | None = None
) -> channels.SmsMessage:
    """Render the SMS notice for ``content`` to ``phone`` (see :meth:`Renderer.render_sms`)."""
    return renderer(templates).render_sms(content, phone)


@functools.lru_cache(maxsize=256)
def _variables(env: jinja2.Environment, template: str) -> frozenset[str]:
    source, _, _ = env.loader.get_source(env, template)  # type: ignore[union-attr]
    return frozenset(jinja2.meta.find_undeclared_variables(env.parse(source)))


def _fitted(params: dict[str, str], firm_name: str, text_of: Callable[[Mapping[str, str]], str]) -> str:
    """The SMS text of `params`, its firm's name shortened if need be. A long name costs the firm a further
    segment for words that say no more than a shorter form: the name is shortened (never below
    SMS_FIRM_MIN_CHARS) until the message fits the budget. Changes params["firm"] in place."""
    text = text_of(params)
    while (
        "firm" in params
        and channels.sms_segments(text) > constants.SMS_SEGMENT_BUDGET
        and len(params["firm"]) > constants.SMS_FIRM_MIN_CHARS
    ):
        over = _units(text) - constants.SMS_SEGMENT_BUDGET * channels.SMS_PART_CHARS
        limit = max(constants.SMS_FIRM_MIN_CHARS, len(params["firm"]) - max(over, 1))
        params["firm"] = firm_names.short_name(firm_name, limit)
        text = text_of(params)
    return text


def _units(text: str) -> int:
    """UTF-16 code units, as SMS segments are counted (channels.sms_segments)."""
    return len(text.encode("utf-16-le")) // 2


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _load_sms_config(path: Path) -> tuple[dict[str, SmsSpec], dict[str, SmsSpec], dict[str, SmsSpec], dict[str, SmsSpec]]:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateConfigError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise TemplateConfigError(f"{path}: expected a mapping with 'modes' and 'clauses'")
    modes = {
        mode: _spec(path, f"modes.{mode}", f"{mode}/sms.txt", entry)
        for mode, entry in (raw.get("modes") or {}).items()
    }
    clauses = {
        clause_id: _spec(path, f"clauses.{clause_id}", f"{CLAUSE_PREFIX}/{clause_id}/sms.txt", entry)
        for clause_id, entry in (raw.get("clauses") or {}).items()
    }
    unknown = set(raw.get("changes") or {}) - set(CHANGES)
    if unknown:
        raise TemplateConfigError(f"{path}: changes: {', '.join(sorted(unknown))} is not one of {', '.join(CHANGES)}")
    changes = {
        kind: _spec(path, f"changes.{kind}", f"{kind}/sms.txt", entry)
        for kind, entry in (raw.get("changes") or {}).items()
    }
    unknown = set(raw.get("digest") or {}) - set(digest_module.VARIANTS)
    if unknown:
        raise TemplateConfigError(f"{path}: digest: {', '.join(sorted(unknown))} is not one of {', '.join(digest_module.VARIANTS)}")
    digests = {
        variant: _spec(path, f"digest.{variant}", f"digest/{variant}/sms.txt", entry, DIGEST_PARAMS)
        for variant, entry in (raw.get("digest") or {}).items()
    }
    return modes, clauses, changes, digests


def _spec(path: Path, where: str, template: str, entry: Any, vocabulary: Mapping[str, Any] = SMS_PARAMS) -> SmsSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("template_code"), str):
        raise TemplateConfigError(f"{path}: {where}: needs a template_code")
    params = entry.get("params")
    if not isinstance(params, list) or not params or any(p not in vocabulary for p in params):
        raise TemplateConfigError(f"{path}: {where}.params: a list drawn from {sorted(vocabulary)}")
    if len(set(params)) != len(params):
        raise TemplateConfigError(f"{path}: {where}.params: a parameter may appear once")
    fallback = entry.get("amount_fallback")
    if "amount" in params and not isinstance(fallback, str):
        raise TemplateConfigError(f"{path}: {where}: uses amount, so needs an amount_fallback")
    return SmsSpec(template, entry["template_code"], tuple(params), fallback)
