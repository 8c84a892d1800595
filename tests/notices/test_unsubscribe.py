"""Signed opt-out links: they name the firm and the channel, and cannot be forged or altered."""

from __future__ import annotations

import pytest

from engine.notices import unsubscribe

SECRET = "s3cret-for-tests"
USCC = "91140302MA0K4XBX2E"


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_round_trip(channel):
    token = unsubscribe.make_token(SECRET, USCC, channel)
    assert unsubscribe.read_token(SECRET, token) == (USCC, channel)


def test_token_is_url_safe_and_the_url_has_the_agreed_shape():
    token = unsubscribe.make_token(SECRET, USCC, "email")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert unsubscribe.unsubscribe_url("https://push.example.cn/", token) == f"https://push.example.cn/unsubscribe/{token}"
    assert unsubscribe.unsubscribe_url("https://push.example.cn", token) == f"https://push.example.cn/unsubscribe/{token}"


def test_tampering_is_detected():
    token = unsubscribe.make_token(SECRET, USCC, "email")
    payload, signature = token.rsplit(".", 1)
    # Another firm's USCC under the first firm's signature.
    forged = unsubscribe.make_token("attacker", "91110000MA00000001", "email").rsplit(".", 1)[0] + "." + signature
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (forged, flipped, payload, token + "x", "", "not-a-token"):
        with pytest.raises(unsubscribe.InvalidToken, match="invalid or has been altered"):
            unsubscribe.read_token(SECRET, bad)


def test_another_secret_does_not_verify():
    token = unsubscribe.make_token(SECRET, USCC, "sms")
    with pytest.raises(unsubscribe.InvalidToken):
        unsubscribe.read_token("other-secret", token)


def test_secret_rotation_keeps_old_links_working():
    old = unsubscribe.make_token("old", USCC, "email")
    assert unsubscribe.read_token(["old", "new"], old) == (USCC, "email")
    new = unsubscribe.make_token(["old", "new"], USCC, "email")
    assert unsubscribe.read_token("new", new) == (USCC, "email")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="channel"):
        unsubscribe.make_token(SECRET, USCC, "fax")
    with pytest.raises(ValueError, match="secret"):
        unsubscribe.make_token("", USCC, "email")
    with pytest.raises(ValueError, match="uscc"):
        unsubscribe.make_token(SECRET, "", "email")
