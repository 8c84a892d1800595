"""Aliyun OpenAPI signature V3: a vector worked by hand from the documented algorithm, round trips,
and the provider-side verifier refusing anything that was changed after signing."""

from __future__ import annotations

import datetime
import hashlib
import hmac

import pytest

from connectors import aliyun_signing

KEY_ID = "YourAccessKeyId"
SECRET = "YourAccessKeySecret"
HOST = "dysmsapi.aliyuncs.com"
DATE = "2023-10-26T10:22:32Z"
WHEN = datetime.datetime(2023, 10, 26, 10, 22, 32, tzinfo=datetime.UTC)
NONCE = "3156853299f313e23d1673dc12e1703d"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

QUERY = {
    "PhoneNumbers": "13800138000",
    "SignName": "阿里云短信测试",
    "TemplateCode": "SMS_154950909",
    "TemplateParam": '{"code":"1234"}',
    "OutId": "notice 1~*+/",
}
HEADERS = {
    "x-acs-action": "SendSms",
    "x-acs-version": "2017-05-25",
    "x-acs-date": DATE,
    "x-acs-signature-nonce": NONCE,
}


def test_signature_matches_a_vector_worked_from_the_documentation():
    # Step 1, CanonicalRequest, written out: RPC path "/", query sorted by name with RFC 3986
    # encoding (space → %20, * → %2A, + → %2B, / → %2F, ~ kept, UTF-8 bytes of 阿里云短信测试),
    # lower-case headers sorted by name each ending in "\n", then the signed names and the hash
    # of the empty body.
    canonical_request = (
        "POST\n"
        "/\n"
        "OutId=notice%201~%2A%2B%2F"
        "&PhoneNumbers=13800138000"
        "&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95"
        "&TemplateCode=SMS_154950909"
        "&TemplateParam=%7B%22code%22%3A%221234%22%7D\n"
        "host:dysmsapi.aliyuncs.com\n"
        "x-acs-action:SendSms\n"
        f"x-acs-content-sha256:{EMPTY_SHA256}\n"
        "x-acs-date:2023-10-26T10:22:32Z\n"
        "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n"
        "x-acs-version:2017-05-25\n"
        "\n"
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n"
        f"{EMPTY_SHA256}"
    )
    # Steps 2 and 3, independently of the module: StringToSign, then HMAC-SHA256 with the secret.
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    expected = hmac.new(SECRET.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()

    added = aliyun_signing.sign("POST", HOST, "/", QUERY, HEADERS, b"", KEY_ID, SECRET)

    assert added == {
        "host": HOST,
        "x-acs-content-sha256": EMPTY_SHA256,
        "Authorization": "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        f"Signature={expected}",
    }


def test_header_names_are_lower_cased_and_values_trimmed():
    shouting = {
        "X-Acs-Action": " SendSms ",
        "X-ACS-Version": "2017-05-25",
        "X-Acs-Date": DATE,
        "X-Acs-Signature-Nonce": NONCE,
    }
    loud = aliyun_signing.sign("POST", HOST, "/", QUERY, shouting, b"", KEY_ID, SECRET)
    assert loud == aliyun_signing.sign("POST", HOST, "/", QUERY, HEADERS, b"", KEY_ID, SECRET)


def test_content_type_is_signed_and_the_body_hashed_when_there_is_one():
    body = b"PhoneNumbers=13800138000"
    headers = {**HEADERS, "Content-Type": "application/x-www-form-urlencoded"}
    added = aliyun_signing.sign("POST", HOST, "/", {}, headers, body, KEY_ID, SECRET)
    assert added["x-acs-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert "SignedHeaders=content-type;host;x-acs-action;" in added["Authorization"]


def test_date_and_nonce_are_generated_fresh_when_not_given():
    minimal = {"x-acs-action": "SendSms", "x-acs-version": "2017-05-25"}
    first = aliyun_signing.sign("POST", HOST, "/", QUERY, minimal, b"", KEY_ID, SECRET)
    second = aliyun_signing.sign("POST", HOST, "/", QUERY, minimal, b"", KEY_ID, SECRET)
    assert first["x-acs-signature-nonce"] != second["x-acs-signature-nonce"]
    datetime.datetime.strptime(first["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")


def test_action_and_version_are_required():
    with pytest.raises(ValueError, match="x-acs-version"):
        aliyun_signing.sign("POST", HOST, "/", QUERY, {"x-acs-action": "SendSms"}, b"", KEY_ID, SECRET)


def _signed_request(body: bytes = b"") -> tuple[dict[str, str], dict[str, str], bytes]:
    headers = {**HEADERS, **aliyun_signing.sign("POST", HOST, "/", QUERY, HEADERS, body, KEY_ID, SECRET)}
    return dict(QUERY), headers, body


def _verify(query, headers, body, *, method="POST", path="/", credentials=None, now=WHEN) -> str:
    return aliyun_signing.verify(method, path, query, headers, body, credentials or {KEY_ID: SECRET}, now=now)


def test_round_trip_verifies_and_names_the_key():
    assert _verify(*_signed_request()) == KEY_ID
    query, headers, body = _signed_request(b'{"a":1}')
    assert _verify(query, {name.upper(): value for name, value in headers.items()}, body) == KEY_ID


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda q, h, b: (q, h, b"x"), id="body"),
        pytest.param(lambda q, h, b: ({**q, "PhoneNumbers": "13900139000"}, h, b), id="query-value"),
        pytest.param(lambda q, h, b: ({**q, "Extra": "1"}, h, b), id="query-added"),
        pytest.param(lambda q, h, b: ({k: v for k, v in q.items() if k != "OutId"}, h, b), id="query-removed"),
        pytest.param(lambda q, h, b: (q, {**h, "x-acs-action": "SendBatchSms"}, b), id="header-action"),
        pytest.param(lambda q, h, b: (q, {**h, "host": "evil.example"}, b), id="header-host"),
        pytest.param(lambda q, h, b: (q, {**h, "x-acs-signature-nonce": "0" * 32}, b), id="header-nonce"),
    ],
)
def test_any_change_after_signing_fails_verification(tamper):
    with pytest.raises(aliyun_signing.VerificationError) as caught:
        _verify(*tamper(*_signed_request()))
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.status == 400


def test_method_and_path_are_signed():
    for method, path in (("GET", "/"), ("POST", "/other")):
        with pytest.raises(aliyun_signing.VerificationError, match="SignatureDoesNotMatch"):
            _verify(*_signed_request(), method=method, path=path)


def test_wrong_secret_and_unknown_key_are_refused_with_aliyuns_codes():
    with pytest.raises(aliyun_signing.VerificationError, match="SignatureDoesNotMatch"):
        _verify(*_signed_request(), credentials={KEY_ID: "another secret"})
    with pytest.raises(aliyun_signing.VerificationError) as caught:
        _verify(*_signed_request(), credentials={"SomeoneElse": SECRET})
    assert (caught.value.code, caught.value.status) == ("InvalidAccessKeyId.NotFound", 404)


def test_an_unsigned_acs_header_or_missing_authorization_is_incomplete():
    query, headers, body = _signed_request()
    with pytest.raises(aliyun_signing.VerificationError, match="IncompleteSignature: headers not signed: x-acs-extra"):
        _verify(query, {**headers, "x-acs-extra": "smuggled"}, body)
    with pytest.raises(aliyun_signing.VerificationError, match="IncompleteSignature: headers not signed: content-type"):
        _verify(query, {**headers, "content-type": "text/plain"}, body)
    without = {name: value for name, value in headers.items() if name != "Authorization"}
    with pytest.raises(aliyun_signing.VerificationError, match="IncompleteSignature"):
        _verify(query, without, body)


def test_stale_dates_are_refused():
    with pytest.raises(aliyun_signing.VerificationError, match="InvalidTimeStamp.Expired"):
        _verify(*_signed_request(), now=WHEN + datetime.timedelta(minutes=16))
    assert _verify(*_signed_request(), now=WHEN - datetime.timedelta(minutes=14)) == KEY_ID


def test_percent_encoding_follows_rfc_3986():
    assert aliyun_signing.percent_encode("a b*c~d+e/f") == "a%20b%2Ac~d%2Be%2Ff"
    assert aliyun_signing.canonical_query_string({"b": "", "a": "1"}) == "a=1&b="
    assert aliyun_signing.canonical_uri("") == "/"
    assert aliyun_signing.canonical_uri("/path/ test") == "/path/%20test"
