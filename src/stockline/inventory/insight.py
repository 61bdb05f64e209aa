"""Stock insight (SPEC 7.3): sales rate, days of cover, a reorder suggestion, daily series.

`product_insight(conn, product_id)` is the one computation; the API and the low-stock
mail both call it. The rule (docs/manager.md):

    sold_per_day = units sold by purchases in the last `days` UTC days (today included) / days
    days_of_cover = current_stock / sold_per_day   (null when nothing sold; 0 when stock <= 0)
    suggested_reorder_quantity = max(0, ceil(sold_per_day * lead_days) + threshold - current_stock)

with `lead_days` = STOCKLINE_REORDER_LEAD_DAYS (how long a delivery takes) and a null
threshold counted as 0: order enough to cover the lead time and still be at the threshold
when the delivery arrives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stockline.db.queries import load
from stockline.errors import NotFound

_Q = load("insight")
DEFAULT_DAYS = 28
DEFAULT_LEAD_DAYS = 7


@dataclass(frozen=True)
class DayPoint:
    date: date
    stock: int  # at the end of that day (now, for today)
    sold: int


@dataclass(frozen=True)
class Suggestion:
    sold_per_day: float
    days_of_cover: float | None
    suggested_reorder_quantity: int


@dataclass(frozen=True)
class Insight:
    product_id: int
    days: int
    lead_days: int
    current_stock: int
    low_stock_threshold: int | None
    sold: int
    sold_per_day: float
    days_of_cover: float | None
    suggested_reorder_quantity: int
    series: list[DayPoint]


@dataclass(frozen=True)
class ReorderItem:
    product_id: int
    sku: str
    name: str
    current_stock: int
    low_stock_threshold: int | None
    sold: int
    sold_per_day: float
    days_of_cover: float | None
    suggested_reorder_quantity: int


def suggest(
    *, sold: int, days: int, current_stock: int, threshold: int | None, lead_days: int
) -> Suggestion:
    """The reorder rule, pure (unit-tested)."""
    per_day = sold / days
    if sold <= 0:
        cover = None
    elif current_stock <= 0:
        cover = 0.0
    else:
        cover = round(current_stock / per_day, 2)
    # a tiny float error must not order one more unit: 0.1 * 30 is 3.0000000000000004
    need = math.ceil(round(per_day * lead_days, 9)) + (threshold or 0)
    return Suggestion(round(per_day, 4), cover, max(0, need - current_stock))


async def product_insight(
    conn: psycopg.AsyncConnection[Any],
    product_id: int,
    *,
    days: int = DEFAULT_DAYS,
    lead_days: int = DEFAULT_LEAD_DAYS,
) -> Insight:
    async with conn.cursor(row_factory=dict_row) as cur:
        # one statement: the stock and the moves come from one snapshot
        await cur.execute(_Q["select_product_days"], {"product_id": product_id, "days": days})
        rows = await cur.fetchall()
    if not rows:
        raise NotFound(f"product {product_id} does not exist")
    stock = int(rows[0]["current_stock"])
    threshold = rows[0]["low_stock_threshold"]
    series: list[DayPoint] = []
    end_of_day = stock
    for row in reversed(rows):  # newest first: walk the stock back through each day's moves
        series.append(DayPoint(row["day"], end_of_day, int(row["sold"])))
        end_of_day -= int(row["net"])
    series.reverse()
    sold = sum(p.sold for p in series)
    rule = suggest(
        sold=sold, days=days, current_stock=stock, threshold=threshold, lead_days=lead_days
    )
    return Insight(
        product_id,
        days,
        lead_days,
        stock,
        threshold,
        sold,
        rule.sold_per_day,
        rule.days_of_cover,
        rule.suggested_reorder_quantity,
        series,
    )


async def reorder_list(
    conn: psycopg.AsyncConnection[Any],
    *,
    days: int = DEFAULT_DAYS,
    lead_days: int = DEFAULT_LEAD_DAYS,
) -> list[ReorderItem]:
    """Active products the rule says to reorder, the soonest to run out first (nothing
    sold: last), then by SKU."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_Q["select_sales_by_product"], {"days": days})
        rows = await cur.fetchall()
    items = []
    for row in rows:
        rule = suggest(
            sold=int(row["sold"]),
            days=days,
            current_stock=int(row["current_stock"]),
            threshold=row["low_stock_threshold"],
            lead_days=lead_days,
        )
        if rule.suggested_reorder_quantity > 0:
            items.append(
                ReorderItem(
                    row["id"],
                    row["sku"],
                    row["name"],
                    int(row["current_stock"]),
                    row["low_stock_threshold"],
                    int(row["sold"]),
                    rule.sold_per_day,
                    rule.days_of_cover,
                    rule.suggested_reorder_quantity,
                )
            )
    # rows come in natural SKU order; a stable sort keeps it within equal cover
    items.sort(key=lambda i: (i.days_of_cover is None, i.days_of_cover or 0.0))
    return items
