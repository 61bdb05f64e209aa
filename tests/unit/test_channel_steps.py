"""How per-channel outcomes fold into a notification's next step (SPEC §7.4, S-7)."""

from __future__ import annotations

from stockline.alerts.notifications import Outcome, channel_step

DELAYS = [60.0, 300.0, 900.0]
SENT = Outcome("sent")
BUSY = Outcome("transient", error="HTTP 503")
GONE = Outcome("permanent", error="HTTP 404")


def test_every_channel_delivered_is_sent() -> None:
    step, states = channel_step({"email": SENT, "webhook:a": SENT}, {}, 1, 0, DELAYS)
    assert step.status == "sent"
    assert states == {"email": "sent", "webhook:a": "sent"}


def test_one_transient_channel_retries_and_remembers_what_was_delivered() -> None:
    step, states = channel_step({"email": SENT, "webhook:a": BUSY}, {}, 1, 0, DELAYS)
    assert (step.status, step.delay_seconds) == ("retrying", 60.0)
    assert states == {"email": "sent"}
    assert "webhook:a" in (step.error_details or "")


def test_retry_after_longer_than_the_schedule_wins() -> None:
    slow = Outcome("transient", error="HTTP 429", retry_after=600.0)
    step, _ = channel_step({"webhook:a": slow}, {"email": "sent"}, 1, 0, DELAYS)
    assert step.delay_seconds == 600.0
    quick = Outcome("transient", error="HTTP 429", retry_after=5.0)
    step, _ = channel_step({"webhook:a": quick}, {"email": "sent"}, 1, 0, DELAYS)
    assert step.delay_seconds == 60.0


def test_the_retry_finishing_the_last_channel_makes_it_sent() -> None:
    step, states = channel_step({"webhook:a": SENT}, {"email": "sent"}, 2, 0, DELAYS)
    assert step.status == "sent" and states == {"email": "sent", "webhook:a": "sent"}


def test_a_permanent_refusal_fails_it_once_the_others_are_done() -> None:
    step, states = channel_step({"email": SENT, "webhook:a": GONE}, {}, 1, 0, DELAYS)
    assert step.status == "failed" and states["webhook:a"] == "failed"
    # with another channel still retrying it is not failed yet
    step, _ = channel_step({"email": BUSY, "webhook:a": GONE}, {}, 1, 0, DELAYS)
    assert step.status == "retrying"


def test_the_fourth_transient_failure_gives_up() -> None:
    step, _ = channel_step({"webhook:a": BUSY}, {"email": "sent"}, 4, 0, DELAYS)
    assert step.status == "failed" and "gave up after 4" in (step.error_details or "")


def test_a_channel_refused_earlier_keeps_the_notification_failed() -> None:
    step, _ = channel_step({"email": SENT}, {"webhook:a": "failed"}, 2, 1, DELAYS)
    assert step.status == "failed"
