"""The demo simulator's pause after a refusal: doubling from 5 s to 5 min, or Retry-After."""

from __future__ import annotations

import email.message
import io
import logging
import urllib.error

import pytest

from stockline.simulator import MAX_PAUSE_SECONDS, _back_off


def _refusal(code: int, retry_after: str | None = None) -> urllib.error.HTTPError:
    headers = email.message.Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return urllib.error.HTTPError("http://x/api", code, "refused", headers, io.BytesIO())


def test_pauses_double_from_five_seconds_up_to_five_minutes() -> None:
    pauses = [0.0]
    for _ in range(10):
        pauses.append(_back_off(pauses[-1], _refusal(401), "demo restocking"))
    assert pauses[1:5] == [5.0, 10.0, 20.0, 40.0]
    assert max(pauses) == MAX_PAUSE_SECONDS == pauses[-1]


def test_a_throttle_is_waited_out_as_long_as_it_asks(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="stockline.demo"):
        assert _back_off(0.0, _refusal(429, "120"), "demo restocking") == 120.0
    assert caplog.records[0].getMessage() == "demo restocking throttled (HTTP 429); pausing 120 s"
