"""/api/stocktakes: counts taken while the shop sells keep every sale (SPEC 7.3)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.fixtures.db import balance, fingerprint, scalar
from tests.fixtures.server import Shop


def _open(c: httpx.Client, *ids: int, note: str = "count") -> dict[str, Any]:
    resp = c.post("/api/stocktakes", json={"product_ids": list(ids), "note": note})
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _count(c: httpx.Client, take: int, product: int, qty: int) -> httpx.Response:
    return c.put(f"/api/stocktakes/{take}/lines/{product}", json={"counted_quantity": qty})


def _buy(shop: Shop, product: int, qty: int) -> None:
    with shop.kiosk() as k:
        resp = k.post("/api/purchases", json={"items": [{"product_id": product, "quantity": qty}]})
    assert resp.status_code == 201, resp.text


def _stock(shop: Shop, product: int) -> int:
    stock, snap, ledger_sum = balance(shop.db_url, product)
    assert stock == snap == ledger_sum
    return stock


def test_a_sale_between_count_and_commit_is_kept(shop: Shop) -> None:
    p = shop.create_product(stock=10)
    with shop.admin() as c:
        take = _open(c, p["id"], note="aisle 3")
        line = _count(c, take["id"], p["id"], 8).json()
        _buy(shop, p["id"], 3)  # after the count: the shelf now holds 8 - 3 = 5
        done = c.post(f"/api/stocktakes/{take['id']}/commit")
    assert (line["counted_quantity"], line["stock_at_count"], line["delta"]) == (8, 10, -2)
    assert line["counted_by"] == shop.admin_email and line["counted_at"]
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "committed" and body["closed_by"] == shop.admin_email
    [entry] = body["entries"]
    assert (entry["delta"], entry["source"]) == (-2, "reconciliation")
    assert entry["reason"] == f"stocktake {take['id']}: aisle 3"
    assert body["lines"][0]["ledger_id"] == entry["id"]
    assert _stock(shop, p["id"]) == 5


def test_uncounted_and_matching_lines_write_nothing_and_a_recount_replaces(shop: Shop) -> None:
    same = shop.create_product(stock=4)
    skipped = shop.create_product(stock=6)
    recounted = shop.create_product(stock=9)
    with shop.admin() as c:
        take = _open(c, same["id"], skipped["id"], recounted["id"])
        assert [ln["counted_quantity"] for ln in take["lines"]] == [None, None, None]
        _count(c, take["id"], same["id"], 4)
        _count(c, take["id"], recounted["id"], 1)
        _buy(shop, recounted["id"], 2)
        again = _count(c, take["id"], recounted["id"], 5).json()
        done = c.post(f"/api/stocktakes/{take['id']}/commit").json()
    assert (again["stock_at_count"], again["delta"]) == (7, -2)
    assert [(e["product_id"], e["delta"]) for e in done["entries"]] == [(recounted["id"], -2)]
    assert (_stock(shop, same["id"]), _stock(shop, skipped["id"])) == (4, 6)
    assert _stock(shop, recounted["id"]) == 5


def test_abandoned_stocktake_writes_nothing_and_frees_its_products(shop: Shop) -> None:
    p = shop.create_product(stock=3)
    with shop.admin() as c:
        take = _open(c, p["id"])
        _count(c, take["id"], p["id"], 0)
        gone = c.delete(f"/api/stocktakes/{take['id']}")
        again = c.post("/api/stocktakes", json={"product_ids": [p["id"]], "note": "retry"})
    assert gone.status_code == 200 and gone.json()["status"] == "abandoned"
    assert gone.json()["entries"] == []
    assert _stock(shop, p["id"]) == 3
    assert again.status_code == 201


def test_a_product_in_an_open_stocktake_cannot_join_another_until_it_closes(shop: Shop) -> None:
    p = shop.create_product(stock=2)
    other = shop.create_product(stock=2)
    with shop.admin() as c:
        first = _open(c, p["id"])
        before = fingerprint(shop.db_url)
        second = c.post("/api/stocktakes", json={"product_ids": [other["id"], p["id"]], "note": ""})
        assert second.status_code == 409
        assert second.headers["content-type"].startswith("application/problem+json")
        assert f"{p['id']} (stocktake {first['id']})" in second.json()["detail"]
        assert fingerprint(shop.db_url) == before
        c.post(f"/api/stocktakes/{first['id']}/commit")
        reopened = c.post("/api/stocktakes", json={"product_ids": [p["id"]], "note": ""})
        assert reopened.status_code == 201
        assert _open(c, other["id"])["lines"][0]["product_id"] == other["id"]


def test_concurrent_stocktakes_of_one_product_let_exactly_one_open(shop: Shop) -> None:
    p = shop.create_product(stock=1)
    n = 6
    start = threading.Barrier(n)
    statuses: list[int] = []

    def create() -> None:
        with shop.admin() as c:
            start.wait()
            resp = c.post("/api/stocktakes", json={"product_ids": [p["id"]], "note": "race"})
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=create) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * (n - 1)
    opened = scalar(
        shop.db_url, "SELECT count(*) FROM stocktake_lines WHERE product_id = %s", p["id"]
    )
    assert opened == 1


def test_sales_running_through_count_and_commit_are_never_lost(shop: Shop) -> None:
    """Kiosks buy without pause while a line is counted and the stocktake committed:
    final stock = counted - (sales after the count), every purchase succeeds."""
    initial = 1000
    p = shop.create_product(stock=initial)
    stop = threading.Event()
    sold = [0]
    failures: list[int] = []
    lock = threading.Lock()

    def kiosk() -> None:
        with shop.kiosk() as k:
            while not stop.is_set():
                resp = k.post(
                    "/api/purchases", json={"items": [{"product_id": p["id"], "quantity": 1}]}
                )
                with lock:
                    if resp.status_code == 201:
                        sold[0] += 1
                    else:
                        failures.append(resp.status_code)

    def wait_for_sales(n: int) -> None:
        target = sold[0] + n
        while sold[0] < target and not failures:
            threading.Event().wait(0.01)

    with shop.admin() as c:
        take = _open(c, p["id"])
        kiosks = [threading.Thread(target=kiosk) for _ in range(4)]
        for t in kiosks:
            t.start()
        try:
            wait_for_sales(20)
            line = _count(c, take["id"], p["id"], 500).json()
            wait_for_sales(20)  # sales after the count, still before and during the commit
            committed = c.post(f"/api/stocktakes/{take['id']}/commit")
            wait_for_sales(10)
        finally:
            stop.set()
            for t in kiosks:
                t.join()
    assert failures == []
    assert committed.status_code == 200, committed.text
    sold_before_count = initial - line["stock_at_count"]
    assert 20 <= sold_before_count <= sold[0]
    # the reconciliation replaced only what the count saw; every later sale still counts
    assert _stock(shop, p["id"]) == 500 - (sold[0] - sold_before_count)
    assert committed.json()["entries"][0]["delta"] == 500 - line["stock_at_count"]


def test_stocktake_without_product_ids_counts_every_active_product(shop: Shop) -> None:
    inactive = shop.create_product(stock=1, active=False)
    active = shop.create_product(stock=1)
    with shop.admin() as c:
        for s in c.get("/api/stocktakes", params={"status": "open"}).json():
            c.delete(f"/api/stocktakes/{s['id']}")
        take = c.post("/api/stocktakes", json={"note": "full count"})
        listed = c.get("/api/stocktakes", params={"status": "open"}).json()
        one = c.get(f"/api/stocktakes/{take.json()['id']}").json()
        c.delete(f"/api/stocktakes/{take.json()['id']}")
    assert take.status_code == 201
    ids = {ln["product_id"] for ln in take.json()["lines"]}
    assert active["id"] in ids and inactive["id"] not in ids
    assert [(s["id"], s["line_count"], s["counted_count"]) for s in listed] == [
        (take.json()["id"], len(ids), 0)
    ]
    assert one["lines"] == take.json()["lines"]


def test_closed_stocktakes_refuse_counts_commits_and_abandons(shop: Shop) -> None:
    p = shop.create_product(stock=5)
    with shop.admin() as c:
        take = _open(c, p["id"])
        _count(c, take["id"], p["id"], 4)
        c.post(f"/api/stocktakes/{take['id']}/commit")
        before = fingerprint(shop.db_url)
        answers = [
            _count(c, take["id"], p["id"], 1),
            c.post(f"/api/stocktakes/{take['id']}/commit"),
            c.delete(f"/api/stocktakes/{take['id']}"),
        ]
    assert [a.status_code for a in answers] == [409, 409, 409]
    assert all("committed" in a.json()["detail"] for a in answers)
    assert fingerprint(shop.db_url) == before


def test_bad_stocktake_requests_are_4xx_and_change_nothing(shop: Shop) -> None:
    p = shop.create_product(stock=5)
    outside = shop.create_product(stock=5)
    with shop.admin() as c:
        take = _open(c, p["id"])
        before = fingerprint(shop.db_url)
        answers = {
            "unknown product": c.post(
                "/api/stocktakes", json={"product_ids": [2**62], "note": ""}
            ).status_code,
            "no note": c.post("/api/stocktakes", json={"product_ids": [p["id"]]}).status_code,
            "long note": c.post(
                "/api/stocktakes", json={"product_ids": [outside["id"]], "note": "n" * 501}
            ).status_code,
            "empty list": c.post(
                "/api/stocktakes", json={"product_ids": [], "note": ""}
            ).status_code,
            "negative": _count(c, take["id"], p["id"], -1).status_code,
            "fraction": c.put(
                f"/api/stocktakes/{take['id']}/lines/{p['id']}", json={"counted_quantity": 1.5}
            ).status_code,
            "not in it": _count(c, take["id"], outside["id"], 1).status_code,
            "no stocktake": _count(c, 2**62, p["id"], 1).status_code,
            "commit unknown": c.post(f"/api/stocktakes/{2**62}/commit").status_code,
            "get unknown": c.get(f"/api/stocktakes/{2**62}").status_code,
            "bad status": c.get("/api/stocktakes", params={"status": "closed"}).status_code,
        }
    with shop.kiosk() as k:
        answers["kiosk"] = k.post(
            "/api/stocktakes", json={"product_ids": [outside["id"]], "note": ""}
        ).status_code
        answers["kiosk list"] = k.get("/api/stocktakes").status_code
    assert answers == {
        "unknown product": 404,
        "no note": 422,
        "long note": 422,
        "empty list": 422,
        "negative": 422,
        "fraction": 422,
        "not in it": 404,
        "no stocktake": 404,
        "commit unknown": 404,
        "get unknown": 404,
        "bad status": 422,
        "kiosk": 403,
        "kiosk list": 403,
    }
    assert fingerprint(shop.db_url) == before
