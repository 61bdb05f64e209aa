"""Named SQL: each db/queries/<area>.sql holds blocks headed `-- name: verb_noun`."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def load(area: str) -> dict[str, LiteralString]:
    text = resources.files("stockline.db").joinpath("queries", f"{area}.sql").read_text("utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        # SQL files ship with the package: they are literal, never built from input.
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries
