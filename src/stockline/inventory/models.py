"""Frozen rows the inventory services return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Snooze:
    """A product's active snooze (SPEC §7.4): its breaches are logged as `suppressed`."""

    until: datetime | None
    until_restocked: bool
    created_at: datetime


def _snooze(
    until: datetime | None, until_restocked: bool | None, created_at: datetime | None
) -> Snooze | None:
    return None if created_at is None else Snooze(until, bool(until_restocked), created_at)


@dataclass(frozen=True)
class StockState:
    """The snapshot part of a product, nested in its HTTP shape."""

    product_id: int
    current_stock: int
    low_stock_flag: bool
    negative_flag: bool
    tracking_enabled: bool
    last_activity_at: datetime | None
    snooze: Snooze | None = None


@dataclass(frozen=True)
class Product:
    id: int
    sku: str
    name: str
    price_cents: int
    low_stock_threshold: int | None
    active: bool
    stock_quantity: int
    category: str | None
    barcode: str | None
    created_at: datetime
    updated_at: datetime
    current_stock: int
    low_stock_flag: bool
    negative_flag: bool
    tracking_enabled: bool
    last_activity_at: datetime | None
    # the product's active snooze (SPEC §7.4), if any
    snooze_until: datetime | None = None
    snooze_until_restocked: bool | None = None
    snoozed_at: datetime | None = None

    @property
    def snapshot(self) -> StockState:
        return StockState(
            self.id,
            self.current_stock,
            self.low_stock_flag,
            self.negative_flag,
            self.tracking_enabled,
            self.last_activity_at,
            _snooze(self.snooze_until, self.snooze_until_restocked, self.snoozed_at),
        )


@dataclass(frozen=True)
class Snapshot:
    product_id: int
    sku: str
    name: str
    low_stock_threshold: int | None
    current_stock: int
    low_stock_flag: bool
    negative_flag: bool
    tracking_enabled: bool
    last_activity_at: datetime | None
    # the product's active snooze (SPEC §7.4), if any
    snooze_until: datetime | None = None
    snooze_until_restocked: bool | None = None
    snoozed_at: datetime | None = None

    @property
    def snooze(self) -> Snooze | None:
        return _snooze(self.snooze_until, self.snooze_until_restocked, self.snoozed_at)


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    product_id: int
    delta: int
    source: str
    reason: str | None
    admin_id: int | None
    transaction_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class LedgerLine(LedgerEntry):
    """A ledger row as history shows it: who, and the stock right after it."""

    actor: str | None  # the admin's email or the purchasing kiosk's name
    actor_kind: str | None  # "admin" | "kiosk"
    balance_after: int


@dataclass(frozen=True)
class PurchaseLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class StockChange:
    entry: LedgerEntry | None
    snapshot: Snapshot
