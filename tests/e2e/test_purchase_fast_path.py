"""POST /api/purchases through its fast path (api/purchasing.py) and through the route:
the same answers, the same refusals in the same order, nothing written by a refused
request, and numbering rounds shared by concurrent purchases, which answer at COMMIT and
whose events then stream dense and in order."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.db import fingerprint, unpositioned
from tests.fixtures.server import Shop, make_shop
from tests.fixtures.sse import EventCollector

FAST = {"Content-Type": "application/json"}
# FastAPI reads any +json type as JSON; the fast path takes application/json only
ROUTE = {"Content-Type": "application/vnd.stockline+json"}


def _metric(shop: Shop, name: str) -> float:
    text = httpx.get(shop.server.url + "/metrics", timeout=10).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def _buy(c: httpx.Client, body: Any, headers: dict[str, str]) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.post("/api/purchases", content=content, headers=headers)


_VARYING = {"date", "content-length"}


def test_the_fast_path_answers_as_the_route_does(shop: Shop) -> None:
    product = shop.create_product(stock=10, price=250)["id"]
    body = {"items": [{"product_id": product, "quantity": 2}]}
    before = _metric(shop, "stockline_purchase_fast_path_total")
    with shop.kiosk() as c:
        fast = _buy(c, body, {**FAST, "Idempotency-Key": "fast-1"})
        assert _metric(shop, "stockline_purchase_fast_path_total") == before + 1
        routed = _buy(c, body, {**ROUTE, "Idempotency-Key": "route-1"})
        assert _metric(shop, "stockline_purchase_fast_path_total") == before + 1
        replay_fast = _buy(c, body, {**FAST, "Idempotency-Key": "route-1"})
        replay_route = _buy(c, body, {**ROUTE, "Idempotency-Key": "fast-1"})
    assert fast.status_code == routed.status_code == 201, (fast.text, routed.text)
    a, b = fast.json(), routed.json()
    assert a.keys() == b.keys()
    assert a["transaction_id"] != b["transaction_id"]
    assert (
        (a["total_cents"], a["items"])
        == (b["total_cents"], b["items"])
        == (
            500,
            [
                {
                    "product_id": product,
                    "quantity": 2,
                    "unit_price_cents": 250,
                    "line_total_cents": 500,
                }
            ],
        )
    )
    assert {k for k in fast.headers if k not in _VARYING} == {
        k for k in routed.headers if k not in _VARYING
    }
    assert fast.headers["cache-control"] == "no-store"
    assert fast.headers["x-frame-options"] == "DENY"
    # each path replays the other's first answer
    assert replay_fast.status_code == replay_route.status_code == 201
    assert replay_fast.json() == b and replay_route.json() == a
    assert replay_fast.headers["idempotent-replayed"] == "true"
    assert replay_route.headers["idempotent-replayed"] == "true"
    with shop.kiosk() as c:
        assert c.get(f"/api/inventory/{product}").json()["current_stock"] == 6
    # both paths are counted under the route's own label
    requests = _metric(shop, 'stockline_http_requests_total{method="POST",route="/api/purchases"')
    assert requests >= 4


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"items": [', FAST, 400),
        ({"items": []}, FAST, 422),
        ({"items": [{"product_id": 1, "quantity": 0}]}, FAST, 422),
        ({"items": [{"product_id": "1", "quantity": 1}]}, FAST, 422),
        ({"items": [{"product_id": 1, "quantity": 1.5}]}, FAST, 422),
        ({"items": [{"product_id": 2**63, "quantity": 1}]}, FAST, 422),
        ({"items": [{"product_id": 99999999, "quantity": 1}]}, FAST, 404),
        ({"items": [{"product_id": 99999999, "quantity": 1}]}, ROUTE, 404),
        ([1, 2], FAST, 422),
        (b"\xff\xfe", FAST, 400),
        (b"", FAST, 422),
        (b'{"items": ' + b"[" * 5000, FAST, 400),  # deeper than the JSON parser goes
        (b"[" * 100_000, FAST, 400),
        ({"items": "PRODUCT"}, FAST, 422),
    ],
)
def test_a_refused_purchase_gets_its_problem_and_changes_nothing(
    shop: Shop, body: Any, headers: dict[str, str], status: int
) -> None:
    before = fingerprint(shop.db_url)
    with shop.kiosk() as c:
        resp = _buy(c, body, headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in resp.text
    assert fingerprint(shop.db_url) == before


@pytest.mark.parametrize("key", ["k" * 201, ""])
def test_an_invalid_idempotency_key_is_refused_whichever_content_type(shop: Shop, key: str) -> None:
    # the fast path leaves an invalid key to the route, which names the problem
    product = shop.create_product(stock=5)["id"]
    before = fingerprint(shop.db_url)
    with shop.kiosk() as c:
        for headers in (FAST, ROUTE):
            resp = _buy(
                c,
                {"items": [{"product_id": product, "quantity": 1}]},
                {**headers, "Idempotency-Key": key},
            )
            assert resp.status_code == 422, resp.text
    assert fingerprint(shop.db_url) == before


def test_without_valid_credentials_both_paths_answer_401_alike(shop: Shop) -> None:
    product = shop.create_product(stock=5)["id"]
    body = {"items": [{"product_id": product, "quantity": 1}]}
    before = fingerprint(shop.db_url)
    answers = []
    for token in (None, "kiosk_" + "0" * 64, "nonsense"):
        for headers in (FAST, ROUTE):
            with shop.server.client(token) as c:
                resp = _buy(c, body, headers)
            answers.append((resp.status_code, resp.headers.get("www-authenticate"), resp.json()))
    assert {a[0] for a in answers} == {401}
    assert answers[0] == answers[1] and answers[2] == answers[3] and answers[4] == answers[5]
    assert fingerprint(shop.db_url) == before


def test_concurrent_purchases_numbered_in_their_batch_or_a_shared_round_stream_in_order_at_once(
    fresh_db: str, server_factory: Any
) -> None:
    # the timer sleeps 10 s: only the rounds the purchases ring can number their events
    server = server_factory(fresh_db, env={"STOCKLINE_EVENT_POSITION_SECONDS": "10"})
    shop = make_shop(server)
    products = [shop.create_product(stock=1000)["id"] for _ in range(6)]
    assert unpositioned(fresh_db) == 0  # the products' own, numbered by their commands
    failures: list[str] = []
    lock = threading.Lock()

    def buyer(n: int) -> None:
        try:
            with shop.kiosk() as c:
                for i in range(8):
                    line = {"product_id": products[(n + i) % len(products)], "quantity": 1}
                    resp = c.post(
                        "/api/purchases",
                        json={"items": [line]},
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                    if resp.status_code != 201:
                        with lock:
                            failures.append(resp.text)
        except Exception as exc:  # a thread's error fails the test, not just a warning
            with lock:
                failures.append(repr(exc))

    with EventCollector(server.url, token=shop.kiosk_token) as live:
        live.wait_for(lambda s: bool(s.parser.comments), what="stream open")
        base = live.ids[-1] if live.ids else None
        threads = [threading.Thread(target=buyer, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        answered = time.monotonic()
        assert not failures
        live.wait_for(lambda s: len(s.of_type("stock-updated")) >= 96, timeout=8, what="96")
        delivered_within = time.monotonic() - answered
    assert delivered_within < 5  # well before the timer's first run: the rings did it
    assert unpositioned(fresh_db) == 0
    ids = live.ids
    assert ids == sorted(ids) and len(ids) == len(set(ids)) >= 96
    assert base is None or ids[0] > base
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # dense, in order
    positions = httpx.get(server.url + "/healthz", timeout=10).json()["events"]["positions"]
    # every batch numbered its own events (inline) or rang for a round; rounds are shared
    assert positions["inline"] >= 1
    assert positions["inline"] + positions["rings"] <= 96
    assert positions["rounds"] + positions["skipped"] <= max(positions["rings"], 1)
    assert positions["runs"] - positions["rounds"] <= 1  # the timer ran at most once


def test_a_disabled_kiosk_cannot_buy_by_token_or_by_cookie_on_either_path(shop: Shop) -> None:
    # the kiosk's hot path finds the kiosk and records the purchase in one statement
    product = shop.create_product(stock=5)["id"]
    with shop.admin() as c:
        made = c.post("/api/admin/kiosks", json={"name": "soon disabled"})
        assert made.status_code == 201, made.text
        kiosk = made.json()
    body = {"items": [{"product_id": product, "quantity": 1}]}
    with shop.server.client(kiosk["token"]) as k:
        assert _buy(k, body, FAST).status_code == 201
    with shop.admin() as c:
        resp = c.patch(f"/api/admin/kiosks/{kiosk['id']}", json={"disabled": True})
        assert resp.status_code == 200, resp.text
    before = fingerprint(shop.db_url)
    for headers in (FAST, ROUTE):
        with shop.server.client(kiosk["token"]) as k:
            resp = _buy(k, body, headers)
        assert resp.status_code == 401, resp.text
        assert resp.headers["www-authenticate"].lower().startswith("bearer")
        with shop.server.client() as browser:
            browser.cookies.set("stockline_kiosk", kiosk["token"])
            browser.cookies.set("stockline_csrf", "c" * 32)
            resp = _buy(browser, body, {**headers, "X-CSRF-Token": "c" * 32})
        assert resp.status_code == 401, resp.text
    assert fingerprint(shop.db_url) == before
    with shop.kiosk() as k:
        assert k.get(f"/api/inventory/{product}").json()["current_stock"] == 4


@pytest.mark.parametrize(
    ("who", "csrf", "status"),
    [
        ("kiosk", "right", 201),
        ("kiosk", "wrong", 403),
        ("kiosk", None, 403),
        ("unknown kiosk", "wrong", 401),
        ("unknown kiosk", "right", 401),
        ("admin", None, 403),
        ("admin", "right", 201),
    ],
)
def test_cookie_credentials_are_refused_in_the_routes_order(
    shop: Shop, who: str, csrf: str | None, status: int
) -> None:
    """401 for credentials that are not valid comes before 403 for a missing or wrong
    CSRF header, as get_principal answers; the kiosk's one-statement path is taken only
    when the header is right, and a token it does not find is a 401 all the same."""
    product = shop.create_product(stock=5)["id"]
    body = {"items": [{"product_id": product, "quantity": 1}]}
    before = fingerprint(shop.db_url)
    with shop.server.client() as browser:
        headers = dict(FAST)
        if who == "admin":
            login = browser.post(
                "/api/auth/login",
                json={"email": shop.admin_email, "password": shop.admin_password},
            )
            assert login.status_code == 200, login.text
            right = login.json()["csrf_token"]
        else:
            token = shop.kiosk_token if who == "kiosk" else "kiosk_" + "1" * 64
            browser.cookies.set("stockline_kiosk", token)
            right = "c" * 32
            browser.cookies.set("stockline_csrf", right)
        if csrf is not None:
            headers["X-CSRF-Token"] = right if csrf == "right" else "x" + right
        resp = _buy(browser, body, headers)
    assert resp.status_code == status, resp.text
    if status != 201:
        assert fingerprint(shop.db_url) == before
