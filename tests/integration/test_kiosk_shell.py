"""What the kiosk's service worker needs from the server: its script under the CSP, with
a scope header that lets it control /kiosk, and a list of assets that all exist."""

from __future__ import annotations

import json
import re

import httpx

from tests.fixtures.server import Shop


def test_the_kiosk_service_worker_may_control_the_kiosk_page_and_lists_real_assets(
    shop: Shop,
) -> None:
    with httpx.Client(base_url=shop.server.url, timeout=30) as c:
        page = c.get("/kiosk")
        worker = c.get("/kiosk/sw.js")
        assert worker.status_code == 200
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["service-worker-allowed"] == "/kiosk"
        assert worker.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in worker.headers["content-security-policy"]
        first_line = worker.text.split("\n", 1)[0]
        prelude = re.fullmatch(r"self\.STOCKLINE_SHELL = (.*);", first_line)
        assert prelude, first_line
        shell = json.loads(prelude[1])
        assert shell["page"] == "/kiosk"
        assert re.fullmatch(r"[0-9a-f]{12}", shell["version"])
        # every asset the page links is kept, each under the URL the page asks for
        linked = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text))
        assert linked <= set(shell["assets"])
        for url in shell["assets"]:
            assert c.get(url).status_code == 200, url
        assert 'data-sw-url="/kiosk/sw.js"' in page.text
        assert 'data-sw-scope="/kiosk"' in page.text


def test_the_idle_setting_reaches_the_kiosk_page(shop: Shop) -> None:
    with httpx.Client(base_url=shop.server.url, timeout=30) as c:
        assert 'data-idle-seconds="90"' in c.get("/kiosk").text
