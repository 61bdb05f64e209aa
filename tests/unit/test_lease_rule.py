"""The lease rule: claim only what is sent now; a send always ends inside its lease."""

from __future__ import annotations

from stockline.alerts.lease import LeaseRule, claim_limit


def test_a_sender_claims_one_row_per_free_slot_and_none_when_all_are_busy() -> None:
    assert claim_limit(8, 0) == 8
    assert claim_limit(8, 5) == 3
    assert claim_limit(8, 8) == 0
    assert claim_limit(8, 9) == 0


def test_a_whole_smtp_conversation_is_bounded_inside_the_lease() -> None:
    rule = LeaseRule(lease_seconds=4, smtp_timeout_seconds=30)
    assert rule.send_timeout < 4
    assert rule.send_timeout == 4 * 0.8


def test_with_a_long_lease_the_bound_is_a_few_smtp_command_timeouts() -> None:
    rule = LeaseRule(lease_seconds=600, smtp_timeout_seconds=10)
    assert rule.send_timeout == 40
