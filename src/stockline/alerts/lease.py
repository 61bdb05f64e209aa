"""The lease rule (SPEC §7.1): a sender sends only what it still holds a valid lease on.

A lease starts when its send starts and is renewed by the fencing check right before
the send, so it must outlast the longest send plus its recording. The sender claims
only as many rows as it starts sending now: a row claimed to wait behind others would
see its lease run out while its sender lives, and a second sender would mail it again.
"""

from __future__ import annotations

from dataclasses import dataclass

# The share of the lease one SMTP conversation may take; the rest is left to record it.
SEND_SHARE = 0.8
# aiosmtplib's timeout is per command; a conversation is a handful of them.
COMMANDS_PER_SEND = 4


@dataclass(frozen=True)
class LeaseRule:
    lease_seconds: float
    smtp_timeout_seconds: float

    @property
    def send_timeout(self) -> float:
        """The bound on one whole SMTP conversation: it always ends inside its lease."""
        return min(self.smtp_timeout_seconds * COMMANDS_PER_SEND, self.lease_seconds * SEND_SHARE)


def claim_limit(concurrency: int, in_flight: int) -> int:
    """How many rows to claim now: one per free sending slot, never more."""
    return max(0, concurrency - in_flight)
