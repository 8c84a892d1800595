"""Aliyun OpenAPI signature V3 (`ACS3-HMAC-SHA256`): the client side (`sign`) and a provider-side
verifier (`verify`, used by the test double of dysmsapi).

Followed, step by step:
- Aliyun's "V3版本请求体&签名机制" (help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature):
  CanonicalRequest = Method\\nCanonicalURI\\nCanonicalQueryString\\nCanonicalHeaders\\nSignedHeaders\\n
  HashedRequestPayload; RFC 3986 encoding of each URI segment and of query names and values (unreserved
  `A-Za-z0-9-_.~` kept, space → %20, `*` → %2A); query sorted by name, `name=value` joined by `&`, an
  empty value written as the empty string; RPC-style APIs use `/` as CanonicalURI; every common header
  present (host, x-acs-*, content-type) is signed; StringToSign = "ACS3-HMAC-SHA256\\n" +
  hex(SHA-256(CanonicalRequest)); Signature = hex(HMAC-SHA256(secret, StringToSign)).
- The official SDK (aliyun/darabonba-openapi `do_request`, darabonba-openapi-util `get_authorization`):
  x-acs-date is `%Y-%m-%dT%H:%M:%SZ` UTC, x-acs-content-sha256 is hex SHA-256 of the body (of b"" when
  the parameters travel in the query), header values are trimmed, names lower-cased.
  One divergence: that SDK writes an empty query value as `name` (no `=`) where the document says
  `name=`; we follow the document, and the SMS sender never sends empty values, so it never matters.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import secrets
import urllib.parse
from collections.abc import Mapping

ALGORITHM = "ACS3-HMAC-SHA256"

#: Headers every signed request must carry (and sign); the action and version say which API is called.
REQUIRED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)

#: Aliyun rejects a request whose x-acs-date is this far from its clock (it also stops nonce replays).
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: Characters RFC 3986 leaves unencoded; `quote` would otherwise also keep `/`.
_UNRESERVED = "-_.~"

_AUTHORIZATION = re.compile(
    rf"^{re.escape(ALGORITHM)} Credential=(?P<ak>[^,\s]+),"
    r"SignedHeaders=(?P<signed>[^,\s]+),Signature=(?P<sig>[0-9a-f]{64})$"
)


class VerificationError(Exception):
    """A request failed provider-side verification; `code` and `status` are what Aliyun answers."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8 text as Aliyun canonicalises it (`~` kept, space → %20, `*` → %2A)."""
    return urllib.parse.quote(value, safe=_UNRESERVED, encoding="utf-8")


def canonical_uri(path: str) -> str:
    """Encode each `/`-separated segment of the path; an empty path is `/`."""
    return "/".join(percent_encode(segment) for segment in (path or "/").split("/"))


def canonical_query_string(query: Mapping[str, str]) -> str:
    """`name=value` pairs, both RFC 3986-encoded, sorted by name, joined by `&`."""
    return "&".join(f"{percent_encode(name)}={percent_encode(query[name])}" for name in sorted(query))


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.strip().lower(): str(value).strip() for name, value in headers.items()}


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """The names a client signs: host, every x-acs-* header and content-type when present, sorted."""
    return sorted(name for name in _lower(headers) if name in ("host", "content-type") or name.startswith("x-acs-"))


def canonical_request(
    method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], signed: list[str], payload_hash: str
) -> str:
    """The V3 CanonicalRequest over the `signed` header names (lower-case, sorted)."""
    lowered = _lower(headers)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed)
    parts = [method.upper(), canonical_uri(path), canonical_query_string(query), canonical_headers, ";".join(signed)]
    return "\n".join([*parts, payload_hash])


def signature(access_key_secret: str, canonical: str) -> str:
    """hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\\n" + hex(SHA-256(CanonicalRequest))))."""
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    return hmac.new(access_key_secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    access_key_secret: str,
) -> dict[str, str]:
    """Sign a request; return the headers to add to `headers` before sending it.

    `headers` must hold `x-acs-action` and `x-acs-version`; `x-acs-date` and `x-acs-signature-nonce`
    are generated unless given (give them to get a reproducible signature). The result holds `host`,
    `x-acs-content-sha256`, the generated date/nonce and `Authorization` — never a header already in
    `headers`, so merging cannot duplicate one. Send `query` exactly as given (see
    `canonical_query_string` for a wire form that needs no re-encoding).
    """
    given = _lower(headers)
    for name in ("x-acs-action", "x-acs-version"):
        if not given.get(name):
            raise ValueError(f"{name} header is required to sign a request")
    added = {
        "host": host,
        "x-acs-date": datetime.datetime.now(datetime.UTC).strftime(DATE_FORMAT),
        "x-acs-signature-nonce": secrets.token_hex(16),
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    added = {name: value for name, value in added.items() if name not in given}
    everything = {**given, **added}
    signed = signed_header_names(everything)
    canonical = canonical_request(method, path, query, everything, signed, everything["x-acs-content-sha256"])
    added["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(signed)},"
        f"Signature={signature(access_key_secret, canonical)}"
    )
    return added


def _check_date(value: str, now: datetime.datetime | None, max_skew: datetime.timedelta) -> None:
    try:
        when = datetime.datetime.strptime(value, DATE_FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise VerificationError("InvalidTimeStamp.Format", f"x-acs-date {value!r} is not {DATE_FORMAT}") from None
    now = now or datetime.datetime.now(datetime.UTC)
    if abs(now - when) > max_skew:
        raise VerificationError("InvalidTimeStamp.Expired", f"x-acs-date {value} is more than {max_skew} off")


def verify(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    *,
    now: datetime.datetime | None = None,
    max_skew: datetime.timedelta = MAX_CLOCK_SKEW,
) -> str:
    """Check a received request as the provider would; return the AccessKeyId that signed it.

    `headers` are the request's (any case, Host included); `query` is decoded; `credentials` maps
    AccessKeyId → secret. Raises VerificationError with Aliyun's code when the Authorization header
    is malformed, a required or present x-acs-*/content-type header is unsigned, the body does not
    match x-acs-content-sha256, the date is stale, the key is unknown or the signature differs.
    """
    lowered = _lower(headers)
    match = _AUTHORIZATION.match(lowered.get("authorization", ""))
    if match is None:
        expected = f"{ALGORITHM} Credential=…,SignedHeaders=…,Signature=…"
        raise VerificationError("IncompleteSignature", f"Authorization is missing or not `{expected}`")
    signed = match["signed"].split(";")
    if signed != sorted(set(signed)):
        raise VerificationError("IncompleteSignature", "SignedHeaders must be sorted, lower-case and unique")
    must_sign = set(REQUIRED_HEADERS) | set(signed_header_names(lowered))
    missing = sorted(must_sign - set(signed))
    if missing:
        raise VerificationError("IncompleteSignature", f"headers not signed: {', '.join(missing)}")
    absent = [name for name in signed if name not in lowered]
    if absent:
        raise VerificationError("IncompleteSignature", f"signed headers absent from the request: {', '.join(absent)}")
    _check_date(lowered["x-acs-date"], now, max_skew)
    secret = credentials.get(match["ak"])
    if secret is None:
        raise VerificationError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", status=404)
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), lowered["x-acs-content-sha256"]):
        raise VerificationError("SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body.")
    canonical = canonical_request(method, path, query, lowered, signed, lowered["x-acs-content-sha256"])
    if not hmac.compare_digest(signature(secret, canonical), match["sig"]):
        raise VerificationError("SignatureDoesNotMatch", "Specified signature does not match our calculation.")
    return match["ak"]
