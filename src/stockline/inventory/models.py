"""Frozen rows the inventory services return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StockState:
    """The snapshot part of a product, nested in its HTTP shape."""

    product_id: int
    current_stock: int
    low_stock_flag: bool
    negative_flag: bool
    tracking_enabled: bool
    last_activity_at: datetime | None


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

    @property
    def snapshot(self) -> StockState:
        return StockState(
            self.id,
            self.current_stock,
            self.low_stock_flag,
            self.negative_flag,
            self.tracking_enabled,
            self.last_activity_at,
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
class PurchaseLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class StockChange:
    entry: LedgerEntry | None
    snapshot: Snapshot
