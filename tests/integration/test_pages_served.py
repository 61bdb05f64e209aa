"""/admin and /kiosk are served by the app itself: no CDN, no inline script, CSP intact."""

from __future__ import annotations

import re

import httpx

from tests.fixtures.server import Shop


def test_pages_link_only_our_own_static_files_and_carry_the_csp(shop: Shop) -> None:
    with httpx.Client(base_url=shop.server.url, timeout=30) as c:
        for path in ("/admin", "/kiosk"):
            resp = c.get(path)
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in resp.headers["content-security-policy"]
            html = resp.text
            scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
            assert scripts, path
            for attrs, body in scripts:
                assert body.strip() == "", "inline script"
                assert re.search(r'src="/static/[\w.-]+\.js\?v=[0-9a-f]{12}"', attrs), attrs
            assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
            assert "style=" not in html, "inline style"
            assert "http://" not in html and "https://" not in html, "external resource"
            for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
                asset = c.get(ref)
                assert asset.status_code == 200, ref
        assert c.get("/static/app.css").headers["content-type"].startswith("text/css")
        assert "javascript" in c.get("/static/kiosk.js").headers["content-type"]
        missing = c.get("/static/nope.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        root = c.get("/", follow_redirects=False)
        assert root.status_code == 303 and root.headers["location"] == "/admin"
