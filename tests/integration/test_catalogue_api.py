"""GET /api/products.csv and POST /api/products/import (SPEC 7.3)."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from typing import Any

import httpx

from tests.fixtures.db import balance, fingerprint, scalar
from tests.fixtures.server import Shop

HEADER = "sku,name,price_cents,low_stock_threshold,category,barcode,initial_stock"
CSV = {"Content-Type": "text/csv"}


def _tag() -> str:
    return uuid.uuid4().hex[:8].upper()


def _import(c: httpx.Client, text: str | bytes, **params: Any) -> httpx.Response:
    body = text.encode() if isinstance(text, str) else text
    return c.post("/api/products/import", content=body, headers=CSV, params=params)


def _catalogue(shop: Shop) -> dict[str, Any]:
    """products and ledger rows: what an import may change"""
    fp = fingerprint(shop.db_url)
    return {t: fp[t] for t in ("products", "inventory_ledger", "inventory_snapshot")}


def _by_sku(c: httpx.Client) -> dict[str, dict[str, Any]]:
    return {p["sku"]: p for p in c.get("/api/products").json()}


def test_import_creates_new_skus_with_initial_stock_and_updates_existing_ones(shop: Shop) -> None:
    t = _tag()
    with shop.admin() as c:
        first = _import(c, f"{HEADER}\nN-{t}-1,Tea,250,3,Drinks,{t}01,12\nN-{t}-2,Cake,400,,,,\n")
        assert first.status_code == 200, first.text
        assert first.json() == {
            "created": 2,
            "updated": 0,
            "unchanged": 0,
            "dry_run": False,
            "errors": [],
        }
        second = _import(
            c, f"{HEADER}\nN-{t}-1,Green tea,260,3,Drinks,{t}01,99\nN-{t}-2,Cake,400,,,,5\n"
        )
        products = _by_sku(c)
    assert second.json()["created"] == 0
    assert (second.json()["updated"], second.json()["unchanged"]) == (1, 1)
    tea, cake = products[f"N-{t}-1"], products[f"N-{t}-2"]
    assert (tea["name"], tea["price_cents"], tea["category"], tea["barcode"]) == (
        "Green tea",
        260,
        "Drinks",
        f"{t}01",
    )
    # initial_stock applies only to new products: the second file's 99 and 5 are ignored
    assert (tea["stock_quantity"], cake["stock_quantity"]) == (12, 0)
    rows = scalar(
        shop.db_url,
        "SELECT array_agg(source || ':' || delta) FROM inventory_ledger WHERE product_id = %s",
        tea["id"],
    )
    assert rows == ["system:12"]


def test_absent_optional_columns_keep_their_values_and_empty_cells_clear_them(
    shop: Shop,
) -> None:
    t = _tag()
    with shop.admin() as c:
        _import(c, f"{HEADER}\nK-{t},Jam,300,4,Pantry,{t}77,0\n")
        keep = _import(c, f"sku,name,price_cents\nK-{t},Jam jar,300\n")
        kept = _by_sku(c)[f"K-{t}"]
        clear = _import(c, f"sku,name,price_cents,category,barcode\nK-{t},Jam jar,300,,\n")
        cleared = _by_sku(c)[f"K-{t}"]
    assert keep.json()["updated"] == 1 and clear.json()["updated"] == 1
    assert (kept["low_stock_threshold"], kept["category"], kept["barcode"]) == (
        4,
        "Pantry",
        f"{t}77",
    )
    assert (cleared["low_stock_threshold"], cleared["category"], cleared["barcode"]) == (
        4,
        None,
        None,
    )


def test_dry_run_counts_what_would_happen_and_writes_nothing(shop: Shop) -> None:
    t = _tag()
    existing = shop.create_product(stock=2)
    before = _catalogue(shop)
    with shop.admin() as c:
        resp = _import(
            c,
            f"{HEADER}\nD-{t},New,1,,,,5\n{existing['sku']},Renamed,1,,,,\n",
            dry_run="true",
        )
    assert resp.status_code == 200
    assert resp.json() == {
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "dry_run": True,
        "errors": [],
    }
    assert _catalogue(shop) == before


def test_any_bad_line_refuses_the_whole_file_with_every_error_and_writes_nothing(
    shop: Shop,
) -> None:
    t = _tag()
    before = _catalogue(shop)
    with shop.admin() as c:
        resp = _import(
            c,
            f"{HEADER}\nE-{t}-1,Good,100,,,,1\nE-{t}-2,,100,,,,\nE-{t}-3,Bad price,abc,,,,\n"
            f"E-{t}-1,Again,100,,,,\n",
        )
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    errors = [(e["line"], e["field"]) for e in resp.json()["errors"]]
    assert errors == [(3, "name"), (4, "price_cents"), (5, "sku")]
    assert all(e["message"] for e in resp.json()["errors"])
    assert _catalogue(shop) == before


def test_wrong_header_is_a_422_on_line_one(shop: Shop) -> None:
    before = _catalogue(shop)
    with shop.admin() as c:
        resp = _import(c, "code,title,price\nA,b,1\n")
    assert resp.status_code == 422
    assert {e["line"] for e in resp.json()["errors"]} == {1}
    assert {"sku", "name", "price_cents", "code"} <= {e["field"] for e in resp.json()["errors"]}
    assert _catalogue(shop) == before


def test_a_barcode_held_by_another_product_is_refused_but_a_swap_within_the_file_works(
    shop: Shop,
) -> None:
    t = _tag()
    a = shop.create_product(barcode=f"{t}A")
    b = shop.create_product(barcode=f"{t}B")
    outsider = shop.create_product(barcode=f"{t}C")
    before = _catalogue(shop)
    with shop.admin() as c:
        taken = _import(c, f"{HEADER}\nX-{t},Thief,1,,,{outsider['barcode']},\n")
        assert taken.status_code == 422
        assert [(e["line"], e["field"]) for e in taken.json()["errors"]] == [(2, "barcode")]
        assert _catalogue(shop) == before
        swap = _import(
            c,
            f"sku,name,price_cents,barcode\n{a['sku']},A,100,{t}B\n{b['sku']},B,100,{t}A\n",
        )
        products = _by_sku(c)
    assert swap.status_code == 200, swap.text
    assert (products[a["sku"]]["barcode"], products[b["sku"]]["barcode"]) == (f"{t}B", f"{t}A")


def test_bom_crlf_and_quoted_commas_import_like_plain_text(shop: Shop) -> None:
    t = _tag()
    data = (
        "\ufeff" + HEADER + f'\r\nQ-{t},"Biscuits, chocolate",199,,"Snacks, sweet",,3\r\n'
    ).encode()
    with shop.admin() as c:
        resp = _import(c, data)
        product = _by_sku(c)[f"Q-{t}"]
    assert resp.status_code == 200, resp.text
    assert (product["name"], product["category"], product["stock_quantity"]) == (
        "Biscuits, chocolate",
        "Snacks, sweet",
        3,
    )


def test_export_lists_every_product_in_the_import_columns_and_is_formula_safe(shop: Shop) -> None:
    t = _tag()
    risky = shop.create_product(stock=4, name="=HYPERLINK(evil)", category="@cat", barcode=f"{t}9")
    guarded = shop.create_product(stock=1, name="'=already guarded by a person")
    with shop.admin() as c:
        resp = c.get("/api/products.csv")
        again = _import(c, resp.content)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    reader = csv.reader(io.StringIO(resp.text))
    assert next(reader) == HEADER.split(",")
    lines = {row[0]: row for row in reader}
    assert lines[risky["sku"]] == [
        risky["sku"],
        "'=HYPERLINK(evil)",
        "100",
        "",
        "'@cat",
        f"{t}9",
        "4",
    ]
    assert lines[guarded["sku"]][1] == "''=already guarded by a person"
    # the export reads back as the same catalogue
    assert again.status_code == 200, again.text
    assert again.json()["created"] == again.json()["updated"] == 0


def test_import_needs_csv_an_admin_and_a_body_within_the_limit(shop: Shop) -> None:
    before = _catalogue(shop)
    line = f"\nBIG-{_tag()},x,1,,,,"
    with shop.admin() as c:
        as_json = c.post("/api/products/import", json={"sku": "A"})
        # SPEC 3: bodies over 1 MiB get 413 (STOCKLINE_IMPORT_MAX_BYTES raises it here)
        huge = _import(c, HEADER + line * (1024 * 1024 // len(line) + 1))
        bad_flag = _import(c, f"{HEADER}\nF-{_tag()},x,1,,,,", dry_run="perhaps")
    with shop.kiosk() as k:
        kiosk = _import(k, f"{HEADER}\nK-{_tag()},x,1,,,,")
        kiosk_export = k.get("/api/products.csv")
    with httpx.Client(base_url=shop.server.url) as anon:
        nobody = _import(anon, f"{HEADER}\nA-{_tag()},x,1,,,,")
    assert as_json.status_code == 415
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith("application/problem+json")
    assert bad_flag.status_code == 422
    assert (kiosk.status_code, kiosk_export.status_code, nobody.status_code) == (403, 403, 401)
    assert _catalogue(shop) == before


def test_openapi_documents_the_catalogue_endpoints(shop: Shop) -> None:
    with shop.admin() as c:
        paths = c.get("/openapi.json").json()["paths"]
    assert "text/csv" in paths["/api/products/import"]["post"]["requestBody"]["content"]
    assert "415" in paths["/api/products/import"]["post"]["responses"]
    assert "text/csv" in paths["/api/products.csv"]["get"]["responses"]["200"]["content"]


def test_the_same_new_file_imported_three_times_at_once_creates_each_product_once(
    shop: Shop,
) -> None:
    t = _tag()
    body = HEADER + "".join(f"\nC-{t}-{i},Item,10,,,,7" for i in range(50)) + "\n"
    start = threading.Barrier(3)
    answers: list[httpx.Response] = []

    def run() -> None:
        with shop.admin() as c:
            start.wait()
            answers.append(_import(c, body))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    outcomes = sorted(
        (a.status_code, a.json().get("created"), a.json().get("unchanged")) for a in answers
    )
    assert outcomes[0] == (200, 50, 0)
    assert all(o in {(200, 0, 50), (409, None, None)} for o in outcomes[1:]), outcomes
    created = scalar(shop.db_url, "SELECT count(*) FROM products WHERE sku LIKE %s", f"C-{t}-%")
    stock_rows = scalar(
        shop.db_url,
        "SELECT count(*) FROM inventory_ledger l JOIN products p ON p.id = l.product_id"
        " WHERE p.sku LIKE %s",
        f"C-{t}-%",
    )
    assert (created, stock_rows) == (50, 50)  # initial stock applied exactly once


def test_an_import_updating_products_while_kiosks_buy_them_never_deadlocks(shop: Shop) -> None:
    products = [shop.create_product(stock=500) for _ in range(5)]
    ids = [p["id"] for p in products]
    stop = threading.Event()
    statuses: list[int] = []

    def buyer() -> None:
        with shop.kiosk() as k:
            while not stop.is_set():
                items = [{"product_id": pid, "quantity": 1} for pid in reversed(ids)]
                statuses.append(k.post("/api/purchases", json={"items": items}).status_code)

    buyers = [threading.Thread(target=buyer) for _ in range(3)]
    for th in buyers:
        th.start()
    imports = []
    try:
        with shop.admin() as c:
            for n in range(8):
                lines = "".join(f"\n{p['sku']},Renamed {n},{100 + n},{n}" for p in products)
                imports.append(_import(c, "sku,name,price_cents,low_stock_threshold" + lines))
    finally:
        stop.set()
        for th in buyers:
            th.join()
    assert [a.status_code for a in imports] == [200] * 8
    assert statuses and set(statuses) == {201}
    for pid in ids:
        stock, snap, ledger_sum = balance(shop.db_url, pid)
        assert stock == snap == ledger_sum == 500 - len(statuses)
