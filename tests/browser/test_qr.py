"""The portal's own QR encoder (static/admin/qr.js) against the Python `qrcode` package."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext

from tests.fixtures.server import Shop

# the reference encoder is a test dependency; an older venv skips instead of erroring
qrcode = pytest.importorskip("qrcode", reason="pip install -e '.[test]' (adds qrcode)")
from qrcode.util import MODE_8BIT_BYTE, QRData  # noqa: E402

pytestmark = pytest.mark.browser

TEXTS = [
    "a",
    "http://127.0.0.1:8000/kiosk#pair=" + "Tk_-" * 11,  # a pairing link
    "https://shop.example.com/kiosk#pair=" + "x" * 43,
    "é" * 50,  # UTF-8: two bytes each
    "k" * 150,
    "z" * 213,  # the most version 10 holds at level M
]


def _reference(text: str, version: int, mask: int) -> list[str]:
    qr = qrcode.QRCode(
        version=version,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=0,
        mask_pattern=mask,
    )
    qr.add_data(QRData(text.encode(), mode=MODE_8BIT_BYTE))
    qr.make(fit=False)
    return ["".join("1" if d else "0" for d in r) for r in qr.get_matrix()]


def _matrices(page: Any, texts: list[str], mask: int | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(
        """async ([texts, mask]) => {
          const { qrMatrix } = await import('/static/admin/qr.js');
          return texts.map((t) => {
            const r = qrMatrix(t, mask === null ? undefined : mask);
            return { text: t, version: r.version, mask: r.mask,
                     rows: r.modules.map((row) => row.map((d) => (d ? '1' : '0')).join('')) };
          });
        }""",
        [texts, mask],
    )
    return result


def test_qr_matrices_match_the_reference_encoder_for_every_version_and_mask(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    page.goto(shop.server.url + "/admin")
    versions = set()
    for made in _matrices(page, TEXTS):
        versions.add(made["version"])
        assert made["rows"] == _reference(made["text"], made["version"], made["mask"]), made
    assert {1, 5, 10} <= versions
    link = TEXTS[1]
    for mask in range(8):
        (made,) = _matrices(page, [link], mask)
        assert made["mask"] == mask
        assert made["rows"] == _reference(link, made["version"], mask), json.dumps(mask)


def test_text_too_long_for_a_qr_code_is_an_error_not_a_wrong_code(
    shop: Shop, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    page.goto(shop.server.url + "/admin")
    message = page.evaluate(
        """async () => {
          const { qrMatrix } = await import('/static/admin/qr.js');
          try { qrMatrix('z'.repeat(214)); return 'no error'; } catch (e) { return e.message; }
        }"""
    )
    assert "too long" in message
