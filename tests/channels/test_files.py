"""File connectors: one file per notice, atomic, written once."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json

import pytest

from connectors import email as smtp
from connectors import outbox_files
from engine.notices import channels

FROM = "notices@push.example.cn"
FROM_NAME = "山西省中小企业服务中心"


def sms(**overrides) -> channels.SmsMessage:
    fields = {"notice_id": "ntc_sms1", "phone": "+8613800138000", "sign_name": "政策推送",
              "template_code": "SMS_401234567", "params": {"firm": "示例商贸", "measure": "房租减免"},
              "text": "【政策推送】示例商贸：贵企业符合房租减免条件，无需申请。退订回T", "out_id": "ntc_sms1"}
    fields.update(overrides)
    return channels.SmsMessage(**fields)


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.fixture
def email_sender(tmp_path) -> outbox_files.FileEmailSender:
    return outbox_files.FileEmailSender(from_address=FROM, from_name=FROM_NAME, outbox=tmp_path / "outbox")


async def test_eml_file_holds_the_message(email_sender, make_email, tmp_path):
    notice = make_email(notice_id="ntc_file1")
    result = await email_sender.send(notice)
    path = tmp_path / "outbox" / "ntc_file1.eml"
    assert result == channels.SendResult(channels.Outcome.SENT, provider_id=str(path), response="written")
    message = parsed(path.read_bytes())
    assert message["Subject"] == notice.subject
    assert message["From"].addresses[0].display_name == FROM_NAME
    assert message["Message-ID"] == "<ntc_file1@push.example.cn>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = message.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == notice.text
    assert html.get_content_type() == "text/html"


async def test_eml_file_is_what_smtp_would_send(email_sender, make_email, smtp_server, tmp_path):
    server = await smtp_server()
    sender = smtp.SmtpSender(smtp.SmtpSettings(host="127.0.0.1", port=server.port, security="none",
                                               from_address=FROM, from_name=FROM_NAME, local_hostname="worker.test"))
    notice = make_email()
    await sender.send(notice)
    await sender.close()
    await email_sender.send(notice)

    on_wire = server.deliveries[0].content
    in_file = (tmp_path / "outbox" / f"{notice.notice_id}.eml").read_bytes()
    # Date and the MIME boundary are chosen per build; everything else is identical.
    wire, file = parsed(on_wire), parsed(in_file)
    assert [(k, v) for k, v in wire.items() if k not in ("Date", "Content-Type")] == \
        [(k, v) for k, v in file.items() if k not in ("Date", "Content-Type")]
    assert [p.get_content() for p in wire.iter_parts()] == [p.get_content() for p in file.iter_parts()]
    assert in_file.endswith(b"\r\n") and b"\n" not in in_file.replace(b"\r\n", b"")


async def test_second_send_keeps_the_first_file(email_sender, make_email, tmp_path):
    first = await email_sender.send(make_email(notice_id="ntc_once", subject="第一次"))
    again = await email_sender.send(make_email(notice_id="ntc_once", subject="第二次"))
    assert again.outcome is channels.Outcome.SENT
    assert again.provider_id == first.provider_id
    assert again.response == "already written"
    assert parsed((tmp_path / "outbox" / "ntc_once.eml").read_bytes())["Subject"] == "第一次"


async def test_concurrent_sends_of_one_notice_write_one_file(email_sender, make_email, tmp_path):
    results = await asyncio.gather(*(email_sender.send(make_email(notice_id="ntc_race")) for _ in range(8)))
    assert {r.outcome for r in results} == {channels.Outcome.SENT}
    assert len({r.provider_id for r in results}) == 1
    assert sorted(r.response for r in results) == ["already written"] * 7 + ["written"]
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["ntc_race.eml"]  # no temporaries left


@pytest.mark.parametrize("notice_id", ["../escape", ".hidden", "a/b", "", "ntc..x", "通知1"])
async def test_unsafe_notice_id_is_dead_and_writes_nothing(email_sender, make_email, tmp_path, notice_id):
    result = await email_sender.send(make_email(notice_id=notice_id))
    assert result.outcome is channels.Outcome.DEAD
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())
    assert not (tmp_path / "escape.eml").exists()


async def test_unbuildable_email_is_dead(email_sender, make_email):
    result = await email_sender.send(make_email(headers={"From": "spoof@example.com"}))
    assert result.outcome is channels.Outcome.DEAD
    assert "From" in result.reason


async def test_unwritable_outbox_is_retry(make_email, tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the directory should be")
    sender = outbox_files.FileEmailSender(from_address=FROM, outbox=blocker)
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert str(blocker) in result.reason


async def test_sms_json_keeps_every_field_in_chinese(tmp_path):
    sender = outbox_files.FileSmsSender(outbox=tmp_path / "outbox")
    await sender.open()
    message = sms()
    result = await sender.send(message)
    await sender.close()
    path = tmp_path / "outbox" / "ntc_sms1.sms.json"
    assert result == channels.SendResult(channels.Outcome.SENT, provider_id=str(path), response="written")
    raw = path.read_text(encoding="utf-8")
    assert "示例商贸" in raw  # readable, not \\u escapes
    record = json.loads(raw)
    assert record.pop("written_at")
    assert record == {"notice_id": "ntc_sms1", "phone": "+8613800138000", "sign_name": "政策推送",
                      "template_code": "SMS_401234567", "params": {"firm": "示例商贸", "measure": "房租减免"},
                      "text": message.text, "out_id": "ntc_sms1"}


async def test_sms_second_send_keeps_the_first_file(tmp_path):
    sender = outbox_files.FileSmsSender(outbox=tmp_path / "outbox")
    first = await sender.send(sms(text="第一次"))
    again = await sender.send(sms(text="第二次"))
    assert (again.outcome, again.provider_id, again.response) == (channels.Outcome.SENT, first.provider_id,
                                                                   "already written")
    assert json.loads((tmp_path / "outbox" / "ntc_sms1.sms.json").read_text(encoding="utf-8"))["text"] == "第一次"


async def test_default_outbox_is_var_outbox_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = await outbox_files.FileSmsSender().send(sms())
    assert result.provider_id == str(tmp_path / "var" / "outbox" / "ntc_sms1.sms.json")
    assert (tmp_path / "var" / "outbox" / "ntc_sms1.sms.json").is_file()
