"""/healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.fixtures.postgres import create_database, with_dbname
from tests.fixtures.server import Shop, make_shop


def test_healthz_reports_database_and_listener(shop: Shop) -> None:
    body = httpx.get(shop.server.url + "/healthz").json()
    assert body["database"] == "ok" and body["listener"] == "connected"


def test_healthz_is_503_when_the_database_is_gone(
    pg_admin_url: str, template_db: str, server_factory: Callable[..., Any]
) -> None:
    name = create_database(pg_admin_url, template_db)
    server = server_factory(with_dbname(pg_admin_url, name))
    shop = make_shop(server)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    resp = httpx.get(server.url + "/healthz", timeout=30)
    assert resp.status_code == 503
    assert resp.json()["database"] == "unreachable"
    with shop.kiosk() as c:
        api = c.get("/api/products")
    assert api.status_code == 503
    assert api.headers["content-type"] == "application/problem+json"
    password = conninfo_to_dict(pg_admin_url).get("password")
    assert not password or password not in api.text


def test_metrics_are_prometheus_text(shop: Shop) -> None:
    httpx.get(shop.server.url + "/healthz")
    resp = httpx.get(shop.server.url + "/metrics")
    assert resp.status_code == 200
    assert "stockline_http_requests_total" in resp.text


def test_openapi_lists_the_spec_paths(shop: Shop) -> None:
    paths = httpx.get(shop.server.url + "/openapi.json").json()["paths"]
    for path in [
        "/api/auth/login",
        "/api/products",
        "/api/products/{product_id}",
        "/api/purchases",
        "/api/inventory",
        "/api/inventory/{product_id}",
        "/api/inventory/{product_id}/ledger",
        "/api/inventory/{product_id}/adjustments",
        "/api/inventory/{product_id}/reconciliations",
        "/api/inventory/{product_id}/tracking",
        "/api/inventory/ledger.csv",
        "/api/admin/config",
        "/healthz",
        "/metrics",
    ]:
        assert path in paths, path


def test_pages_and_errors_carry_security_headers(shop: Shop) -> None:
    resp = httpx.get(shop.server.url + "/api/products")
    assert resp.status_code == 401
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-content-type-options"] == "nosniff"
