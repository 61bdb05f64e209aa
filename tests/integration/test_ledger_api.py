"""Ledger reads: paging newest first, and the streamed CSV with its filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from tests.fixtures.server import Shop


def test_ledger_pages_newest_first_with_before_id(shop: Shop) -> None:
    p = shop.create_product(stock=1)
    with shop.admin() as c:
        for n in range(5):
            c.post(
                f"/api/inventory/{p['id']}/adjustments", json={"delta": n + 1, "reason": f"r{n}"}
            )
        first = c.get(f"/api/inventory/{p['id']}/ledger", params={"limit": 4}).json()
        assert [e["delta"] for e in first["items"]] == [5, 4, 3, 2]
        assert first["next_before_id"] == first["items"][-1]["id"]
        rest = c.get(
            f"/api/inventory/{p['id']}/ledger",
            params={"limit": 4, "before_id": first["next_before_id"]},
        ).json()
    assert [e["delta"] for e in rest["items"]] == [1, 1]
    assert rest["next_before_id"] is None


def test_ledger_csv_streams_every_row_and_filters_by_product_and_time(shop: Shop) -> None:
    a = shop.create_product(stock=3)
    b = shop.create_product(stock=4)
    with shop.admin() as c:
        c.post(
            f"/api/inventory/{a['id']}/adjustments", json={"delta": -1, "reason": "a, with comma"}
        )
        everything = c.get("/api/inventory/ledger.csv")
        only_a = c.get("/api/inventory/ledger.csv", params={"product_id": a["id"]})
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        none = c.get("/api/inventory/ledger.csv", params={"from": future})
        backwards = c.get(
            "/api/inventory/ledger.csv", params={"from": future, "to": "2020-01-01T00:00:00Z"}
        )
    assert everything.status_code == 200
    assert everything.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(everything.text)))
    assert {int(r["product_id"]) for r in rows} >= {a["id"], b["id"]}
    a_rows = list(csv.DictReader(io.StringIO(only_a.text)))
    assert [(int(r["delta"]), r["source"], r["reason"]) for r in a_rows] == [
        (3, "system", "initial stock"),
        (-1, "manual_adjustment", "a, with comma"),
    ]
    assert list(csv.DictReader(io.StringIO(none.text))) == []
    assert backwards.status_code == 422


def test_ledger_csv_to_a_date_without_time_includes_that_whole_day(shop: Shop) -> None:
    a = shop.create_product(stock=3)
    with shop.admin() as c:
        rows = list(
            csv.DictReader(
                io.StringIO(c.get("/api/inventory/ledger.csv", params={"product_id": a["id"]}).text)
            )
        )
        day = datetime.fromisoformat(rows[0]["created_at"]).astimezone(UTC).date()

        def deltas(**params: str) -> list[int]:
            resp = c.get("/api/inventory/ledger.csv", params={"product_id": a["id"], **params})
            assert resp.status_code == 200, resp.text
            return [int(r["delta"]) for r in csv.DictReader(io.StringIO(resp.text))]

        assert deltas(**{"from": day.isoformat(), "to": day.isoformat()}) == [3]
        assert deltas(to=(day - timedelta(days=1)).isoformat()) == []
        # a time given is still an exclusive bound: midnight at the day's start leaves it out
        assert deltas(to=f"{day.isoformat()}T00:00:00") == []
        assert deltas(to="9999-12-31") == [3]
