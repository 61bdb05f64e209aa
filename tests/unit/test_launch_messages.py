"""The one-line messages for bad settings and database URLs (no server needed)."""

from __future__ import annotations

import psycopg
import pytest
from pydantic import ValidationError

from stockline.config import Settings
from stockline.launch import UsageError, check_database_url, describe_settings_error


def _settings_error(**env: str) -> str:
    try:
        Settings(**env)  # type: ignore[arg-type]
    except ValidationError as exc:
        return describe_settings_error(exc)
    raise AssertionError("settings were accepted")


def test_a_settings_error_names_the_variable_without_pydantic_boilerplate() -> None:
    line = _settings_error(STOCKLINE_RETRY_SCHEDULE="")
    assert line == (
        "invalid setting STOCKLINE_RETRY_SCHEDULE: must list at least one delay in seconds, "
        "e.g. 60,300,900 (got '')"
    )


def test_a_secret_setting_is_named_but_its_value_is_not_shown() -> None:
    line = _settings_error(DATABASE_URL=123, STOCKLINE_WORKER_POLL_SECONDS="-1")  # type: ignore[arg-type]
    assert "DATABASE_URL" in line and "123" not in line
    assert "STOCKLINE_WORKER_POLL_SECONDS: Input should be greater than 0 (got '-1')" in line


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@h:5432/db",
        "postgres://u@h/db",
        "host=h port=5433 dbname=db",
        "postgresql:///db?host=/run/postgresql",
    ],
)
def test_well_formed_urls_pass_and_keep_no_password(url: str) -> None:
    assert "password" not in check_database_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://u:pw@h/db", "scheme 'http'"),
        ("postgresql://u:pw@h:0/db", "port '0'"),
        ("postgresql://u:pw@h:65536/db", "port '65536'"),
        ("dbname=x secret-token", 'missing "="'),
    ],
)
def test_malformed_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_database_url(url)
    assert reason in str(caught.value)
    assert "secret-token" not in str(caught.value)


def test_connect_errors_are_classified() -> None:
    from stockline.launch import describe_connect_error

    url = "postgresql://shop:pw@db.example:5433/shop"

    def say(text: str) -> str:
        return describe_connect_error(psycopg.OperationalError(text), url)

    assert "connection refused by db.example:5433" in say(
        'connection to server at "10.0.0.5", port 5433 failed: Connection refused'
    )
    assert "no answer from db.example:5433" in say("connection timeout expired")
    assert "database 'shop' does not exist" in say('FATAL:  database "shop" does not exist')
    assert "authentication failed for user 'shop'" in say(
        'FATAL:  password authentication failed for user "shop"'
    )


def test_currency_and_public_url_are_checked() -> None:
    assert "three-letter ISO 4217 code" in _settings_error(STOCKLINE_CURRENCY="euro")
    assert "absolute http:// or https:// URL" in _settings_error(
        STOCKLINE_PUBLIC_URL="shop.example.com"
    )
    settings = Settings(STOCKLINE_CURRENCY="usd", STOCKLINE_PUBLIC_URL="https://x.example/")  # type: ignore[call-arg]
    assert (settings.currency, settings.public_url) == ("USD", "https://x.example")
