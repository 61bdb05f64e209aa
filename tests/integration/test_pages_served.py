"""/admin and /kiosk are served by the app itself: no CDN, no inline script, CSP intact."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

import stockline.web.pages
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
                assert re.search(r'src="/static/[\w./-]+\.js\?v=[0-9a-f]{12}"', attrs), attrs
            assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
            assert "style=" not in html, "inline style"
            assert "http://" not in html and "https://" not in html, "external resource"
            for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
                asset = c.get(ref)
                assert asset.status_code == 200, ref
        assert c.get("/static/app.css").headers["content-type"].startswith("text/css")
        assert "javascript" in c.get("/static/kiosk.js").headers["content-type"]
        missing = c.get("/static/nope.js")
        # hashed URLs are cached for good, plain ones (module imports) revalidated each load
        versioned = re.search(
            r'src="(/static/admin/main\.js\?v=[0-9a-f]{12})"', c.get("/admin").text
        )
        assert versioned, "admin.html loads admin/main.js"
        assert "immutable" in c.get(versioned.group(1)).headers["cache-control"]
        assert c.get("/static/app.css").headers["cache-control"] == "no-cache"
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        root = c.get("/", follow_redirects=False)
        assert root.status_code == 303 and root.headers["location"] == "/admin"


def test_every_admin_module_is_served_as_javascript_and_its_imports_exist(shop: Shop) -> None:
    # a module served as text/plain (nosniff is on) or a missing import blanks the portal
    static = Path(stockline.web.pages.STATIC_DIR)
    modules = sorted(static.glob("admin/*.js"))
    assert any(m.name == "main.js" for m in modules)
    with httpx.Client(base_url=shop.server.url, timeout=30) as c:
        for module in modules:
            resp = c.get(f"/static/admin/{module.name}")
            assert resp.status_code == 200, module.name
            assert resp.headers["content-type"].startswith("text/javascript"), module.name
            for target in re.findall(r'^import .*? from "\./([\w.-]+)";', resp.text, re.M):
                assert (static / "admin" / target).is_file(), f"{module.name} imports {target}"
