"""The shipped nginx site (deploy/nginx/stockline.conf), run by a real nginx in front of
`serve --workers 2`: events pass through unbuffered, heartbeats keep idle streams alive."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.nginx import SITE, Nginx, start_nginx
from tests.fixtures.server import Shop, make_shop
from tests.fixtures.sse import EventCollector


@pytest.fixture
def proxied(fresh_db: str, server_factory: Any) -> Iterator[tuple[Nginx, Shop]]:
    server = server_factory(fresh_db, workers=2)
    nginx = start_nginx(server.port)
    try:
        yield nginx, make_shop(server)
    finally:
        nginx.stop()


def _events_location() -> str:
    text = SITE.read_text()
    found = re.search(r"location = /api/inventory/events \{(.*?)\n    \}", text, re.S)
    assert found, "the site has an exact location for the event stream"
    return found.group(1)


def test_shipped_site_turns_off_buffering_and_keeps_long_reads_on_the_events_location() -> None:
    block = _events_location()
    assert re.search(r"proxy_buffering\s+off;", block)
    assert re.search(r"proxy_http_version\s+1\.1;", block)
    assert re.search(r'proxy_set_header\s+Connection\s+"";', block)
    timeout = re.search(r"proxy_read_timeout\s+(\d+)([smh]);", block)
    assert timeout
    seconds = int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)]
    assert seconds >= 300  # far above the 15 s heartbeat
    upstream = re.search(r"upstream stockline \{(.*?)\}", SITE.read_text(), re.S)
    assert upstream and re.search(r"keepalive\s+\d+;", upstream.group(1))


def test_events_stream_through_nginx_unbuffered(proxied: tuple[Nginx, Shop]) -> None:
    nginx, shop = proxied
    product = shop.create_product(stock=100)
    with EventCollector(nginx.url, token=shop.kiosk_token) as stream:
        assert stream.status == 200, stream.body_text
        assert stream.headers is not None
        assert stream.headers["content-type"].startswith("text/event-stream")
        stream.wait_for(lambda s: bool(s.parser.comments), what="banner through nginx")
        lags = []
        with httpx.Client(
            base_url=nginx.url, headers={"Authorization": f"Bearer {shop.kiosk_token}"}
        ) as client:
            for n in range(1, 4):
                written = time.time()
                resp = client.post(
                    "/api/purchases",
                    json={"items": [{"product_id": product["id"], "quantity": 1}]},
                )
                assert resp.status_code == 201, resp.text
                stream.wait_for(
                    lambda s, n=n: (
                        len([e for e in s.events if e.data.get("source") == "purchase"]) >= n
                    ),
                    timeout=5,
                    what=f"purchase {n} through nginx",
                )
                event = [e for e in stream.events if e.data.get("source") == "purchase"][-1]
                lags.append(event.received_at - written)
        assert max(lags) < 0.5, lags  # well under a second: nothing held in a proxy buffer
        # idle: heartbeats come through too (FAST_ENV heartbeat 1 s)
        beats = len(stream.parser.comments)
        stream.wait_for(lambda s: len(s.parser.comments) >= beats + 2, timeout=5, what="beats")
        last = stream.ids[-1]
    # and a reconnect through nginx replays with Last-Event-ID
    with httpx.Client(
        base_url=nginx.url, headers={"Authorization": f"Bearer {shop.kiosk_token}"}
    ) as client:
        resp = client.post(
            "/api/purchases", json={"items": [{"product_id": product["id"], "quantity": 1}]}
        )
        assert resp.status_code == 201
    with EventCollector(
        nginx.url, token=shop.kiosk_token, headers={"Last-Event-ID": str(last)}
    ) as again:
        again.wait_events(1)
        assert again.ids[0] == last + 1
        assert again.events[0].data["current_stock"] == 96


def test_the_events_location_logs_the_path_but_never_the_stream_token(
    proxied: tuple[Nginx, Shop],
) -> None:
    nginx, shop = proxied
    with httpx.Client(
        base_url=nginx.url, headers={"Authorization": f"Bearer {shop.kiosk_token}"}
    ) as c:
        resp = c.post("/api/inventory/events/token")
        assert resp.status_code == 200, resp.text
        token = resp.json()["token"]
        assert c.get("/healthz").status_code == 200  # another location, logged as usual
    with EventCollector(nginx.url, params={"token": token}) as stream:
        stream.wait_for(lambda s: bool(s.parser.comments), what="stream through nginx")
    logs = "".join(
        p.read_text(errors="replace") for p in nginx.workdir.glob("*.log") if p.is_file()
    )
    deadline = time.monotonic() + 10  # nginx writes the line when the stream ends
    while "/api/inventory/events " not in logs and time.monotonic() < deadline:
        time.sleep(0.1)
        logs = "".join(p.read_text(errors="replace") for p in nginx.workdir.glob("*.log"))
    assert "GET /api/inventory/events HTTP/1.1" in logs
    assert token not in logs
    assert "token=" not in logs
