"""The exception tree. Each docstring is the default message; api/problems.py maps them.

Two optional attributes tell the HTTP layer what a client needs to retry:
`retry_after` (seconds) and `challenge` (the authentication scheme to use).
"""

from __future__ import annotations


class StocklineError(Exception):
    """Something went wrong."""

    retry_after: int | None = None
    challenge: str | None = None

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or (self.__doc__ or "").strip())
        self.detail = detail or (self.__doc__ or "").strip()


class NotFound(StocklineError):
    """The resource does not exist."""


class Conflict(StocklineError):
    """The request conflicts with the current state."""


class IdempotencyConflict(Conflict):
    """This Idempotency-Key was already used with a different request body."""


class DuplicateSku(Conflict):
    """A product with this SKU already exists."""


class DuplicateBarcode(Conflict):
    """Another product already has this barcode."""


class InvalidInput(StocklineError):
    """The request is not valid."""

    def __init__(self, detail: str | None = None, errors: list[dict[str, object]] | None = None):
        super().__init__(detail)
        self.errors = errors or []


class UnsupportedMediaType(StocklineError):
    """The request body has a media type this endpoint does not accept."""


class NotAuthenticated(StocklineError):
    """Authentication is required."""

    challenge = "Bearer"


class Forbidden(StocklineError):
    """These credentials may not do this."""


class TooManyStreams(StocklineError):
    """Too many event streams are open with these credentials; close one first."""


class TooManyAttempts(StocklineError):
    """Too many failed login attempts; try again later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(None)
        self.retry_after = retry_after


class DatabaseUnavailable(StocklineError):
    """The database is unreachable; try again shortly."""

    retry_after = 2
