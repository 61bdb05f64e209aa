"""The exception → problem+json mapping, without a server: pure functions on values."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from stockline import errors
from stockline.api import problems


def _body(response: object) -> dict[str, object]:
    body = getattr(response, "body", b"")
    parsed: dict[str, object] = json.loads(body)
    return parsed


class _Sku(errors.DuplicateSku):
    """A subclass nobody mapped: it answers like its nearest mapped ancestor."""


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.NotFound(), 404),
        (errors.IdempotencyConflict(), 409),
        (_Sku(), 409),
        (errors.InvalidInput("bad"), 422),
        (errors.NotAuthenticated(), 401),
        (errors.Forbidden(), 403),
        (errors.TooManyAttempts(7), 429),
        (errors.DatabaseUnavailable(), 503),
        (errors.StocklineError(), 400),
        (PoolTimeout("x"), 503),
        (psycopg.OperationalError("x"), 503),
        (psycopg.errors.NumericValueOutOfRange("x"), 422),
        (psycopg.DataError("x"), 422),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), 422),
        (HTTPException(405), 405),
        (KeyError("boom"), 500),
    ],
)
def test_each_exception_takes_the_answer_of_its_nearest_mapped_class(
    exc: Exception, status: int
) -> None:
    response = problems.answer(exc)
    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    assert _body(response)["status"] == status


def test_headers_come_from_the_exception_attributes() -> None:
    assert problems.answer(errors.TooManyAttempts(42)).headers["retry-after"] == "42"
    assert problems.answer(errors.NotAuthenticated()).headers["www-authenticate"] == "Bearer"
    assert problems.answer(errors.DatabaseUnavailable()).headers["retry-after"] == "2"
    assert problems.answer(PoolTimeout("x")).headers["retry-after"] == "2"
    allow = HTTPException(405, headers={"Allow": "GET"})
    assert problems.answer(allow).headers["allow"] == "GET"


def test_foreign_exception_text_never_reaches_the_body() -> None:
    body = _body(problems.answer(psycopg.DataError("value 'hunter2' out of range")))
    assert "hunter2" not in json.dumps(body)
    body = _body(problems.answer(RuntimeError("secret-in-message")))
    assert "secret-in-message" not in json.dumps(body)


def test_validation_errors_echo_only_finite_encodable_small_non_secret_input() -> None:
    raw = [
        {"loc": ("body", "name"), "msg": "m", "type": "t", "input": "bad\ud800"},
        {"loc": ("body", "price_cents"), "msg": "m", "type": "t", "input": float("inf")},
        {"loc": ("body", "delta"), "msg": "m", "type": "t", "input": float("nan")},
        {"loc": ("body", "password"), "msg": "m", "type": "t", "input": "hunter2"},
        {"loc": ("query", "token"), "msg": "m", "type": "t", "input": "tok"},
        {"loc": ("body", "sku"), "msg": "m", "type": "t", "input": "x" * 201},
        {"loc": ("body", "qty"), "msg": "m", "type": "t", "input": 10**30},
        {"loc": ("body", "body"), "msg": "m", "type": "t", "input": {"a": 1}},
        {"loc": ("body", "reason"), "msg": "m", "type": "t", "input": "fine"},
        {"loc": ("body", "quantity"), "msg": "m", "type": "t", "input": 2.5},
    ]
    cleaned = problems.clean_validation_errors(raw)
    echoed = {item["loc"][-1]: item.get("input") for item in cleaned if "input" in item}
    assert echoed == {"reason": "fine", "quantity": 2.5}


def test_a_problem_body_with_surrogates_and_infinities_still_renders() -> None:
    exc = errors.InvalidInput(
        "bad \ud800 detail", errors=[{"loc": ["body", "k\udfff"], "msg": "x", "input": 1e400}]
    )
    response = problems.answer(exc)
    body = _body(response)
    assert response.status_code == 422
    assert body["detail"] == "bad \ufffd detail"
    assert body["errors"] == [{"loc": ["body", "k\ufffd"], "msg": "x", "type": "value_error"}]


def test_request_body_that_is_not_json_is_a_400() -> None:
    exc = RequestValidationError(
        [{"loc": ("body", 1), "msg": "JSON decode error", "type": "json_invalid", "input": {}}]
    )
    response = problems.answer(exc)
    assert response.status_code == 400
    assert _body(response)["detail"] == "the request body is not valid JSON"


def test_an_unexpected_error_logs_frames_but_not_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "".join(["hun", "ter2", "\ud800"])  # built, so no source line shows it
    try:
        try:
            raise ValueError(f"input_value={secret!r}")
        except ValueError as inner:
            raise RuntimeError(f"while rendering {secret}") from inner
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR, logger="stockline.api.problems"):
            response = problems.answer(exc, "/api/auth/login")
    assert response.status_code == 500
    logged = "\n".join(f"{r.getMessage()} {vars(r).get('traceback', '')}" for r in caplog.records)
    assert "unhandled error" in logged
    assert "builtins.ValueError" in logged and "builtins.RuntimeError" in logged
    assert "test_problems.py" in logged  # the frames are there
    assert "hunter2" not in logged


def test_the_endless_answers_without_head_are_the_event_stream() -> None:
    from stockline.api import event_stream, methods

    assert frozenset({event_stream.PATH}) == methods.ENDLESS
