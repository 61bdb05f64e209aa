"""The mechanism behind "no 500 for any text" (SPEC §7.1): every string a client can send
(body field, query, path or header parameter) is the shared `Text` type. Text marks
its JSON Schema with `not: {pattern: \\u0000}`, so the app's own OpenAPI document shows
any string input that escaped it. No server, no database: the document is built in
memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stockline.app import create_app

_MARK = {"pattern": "\\u0000"}


def _strings(
    schema: Any, doc: dict[str, Any], where: str, seen: frozenset[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            target = doc["components"]["schemas"][name]
            yield from _strings(target, doc, f"{where}->{name}", seen | {name})
        return
    if schema.get("type") == "string":
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for index, sub in enumerate(schema.get(key, [])):
            yield from _strings(sub, doc, f"{where}.{key}[{index}]", seen)
    for name, sub in schema.get("properties", {}).items():
        yield from _strings(sub, doc, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _strings(schema[key], doc, f"{where}.{key}", seen)


def _inputs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            here = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                where = f"{here} {param['in']} {param['name']}"
                yield from _strings(param.get("schema", {}), doc, where, frozenset())
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                if media == "application/json":
                    yield from _strings(content.get("schema", {}), doc, f"{here} body", frozenset())


def _exempt(schema: dict[str, Any]) -> bool:
    # a fixed set of words, or a format whose parser refuses NUL and surrogates by itself
    return "enum" in schema or "const" in schema or schema.get("format") in ("date-time", "date")


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    doc: dict[str, Any] = create_app().openapi()
    return doc


def test_every_string_a_client_sends_is_the_shared_text_type(openapi: dict[str, Any]) -> None:
    found = [(where, schema) for where, schema in _inputs(openapi) if not _exempt(schema)]
    assert len(found) > 20  # the walk reaches the inputs (sku, name, reason, email, ...)
    untyped = [where for where, schema in found if schema.get("not") != _MARK]
    assert not untyped, "string inputs that are not stockline.api.schemas.Text:\n" + "\n".join(
        untyped
    )
