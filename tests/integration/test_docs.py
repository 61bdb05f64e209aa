"""Docs that operators rely on stay true to the code."""

from __future__ import annotations

from pathlib import Path

from stockline.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_operations() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    names = [field.alias for field in Settings.model_fields.values() if field.alias]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"undocumented settings: {missing}"


def test_readme_gives_the_two_newcomer_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "stockline demo" in readme
    assert "./scripts/test" in readme
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()
