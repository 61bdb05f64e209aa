"""Webhook validation, signing and reply classification (SPEC §7.4), without a network."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from stockline.alerts.webhooks import (
    Webhook,
    channel_name,
    classify_response,
    parse_webhooks,
    retry_after_seconds,
    sign,
)
from stockline.errors import InvalidInput

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    body = b'{"id":1}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == f"sha256={expected}"


def test_a_channel_is_named_by_host_and_hash_never_by_path() -> None:
    name = channel_name("https://hooks.slack.com/services/T0/B0/XXXXSECRET")
    assert name.startswith("webhook:hooks.slack.com:") and "XXXX" not in name


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "http"),
        ("file:///etc/passwd", "http"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://token@example.com/hook", "credentials"),
        ("https:///nohost", "host"),
        ("https://example.com:99999/", "valid"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\x00", "control"),
        ("", "text"),
    ],
)
def test_a_bad_url_is_refused_without_echoing_it(url: str, why: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_webhooks([{"url": url, "secret": "k"}], [])
    assert why in str(caught.value)
    assert all("input" not in e for e in caught.value.errors)
    if "@" in url:
        assert "pw" not in str(caught.value) and "token" not in str(caught.value)


def test_a_new_webhook_needs_a_secret_and_a_known_one_keeps_its_own() -> None:
    with pytest.raises(InvalidInput, match="needs a secret"):
        parse_webhooks([{"url": "https://a.example/h"}], [])
    stored = [Webhook("https://a.example/h", "old-secret")]
    (kept,) = parse_webhooks([{"url": "https://a.example/h", "secret": None}], stored)
    assert kept.secret == "old-secret"
    (changed,) = parse_webhooks([{"url": "https://a.example/h", "secret": "new"}], stored)
    assert changed.secret == "new"


def test_a_bad_secret_is_refused_without_echoing_it() -> None:
    for secret in ["x" * 300, "bad\x00secret", "lone\ud800surrogate"]:
        with pytest.raises(InvalidInput) as caught:
            parse_webhooks([{"url": "https://a.example/h", "secret": secret}], [])
        assert secret not in str(caught.value) and secret not in repr(caught.value.errors)


def test_duplicate_urls_are_refused() -> None:
    hook = {"url": "https://a.example/h", "secret": "k"}
    with pytest.raises(InvalidInput, match="twice"):
        parse_webhooks([hook, hook], [])


def test_the_secret_never_appears_in_a_webhook_repr() -> None:
    assert "hunter2" not in repr(Webhook("https://a.example/h", "hunter2"))


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert classify_response(status, None, "", NOW).kind == "sent"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_transient(status: int) -> None:
    outcome = classify_response(status, None, "busy", NOW)
    assert outcome.kind == "transient" and outcome.http_status == status


@pytest.mark.parametrize("status", [301, 302, 400, 401, 403, 404, 410, 422])
def test_other_answers_are_permanent(status: int) -> None:
    assert classify_response(status, None, "", NOW).kind == "permanent"


def test_retry_after_in_seconds_and_as_an_http_date_is_honoured() -> None:
    assert classify_response(429, "120", "", NOW).retry_after == 120.0
    assert retry_after_seconds("Tue, 01 Dec 2026 12:05:00 GMT", NOW) == 300.0
    assert retry_after_seconds("Tue, 01 Dec 2026 11:00:00 GMT", NOW) == 0.0  # past: no wait
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("99999999", NOW) == 24 * 3600.0  # capped at a day
