"""deploy/prometheus/alerts.yml is valid for Prometheus and its alerts fire when they should.

promtool comes with Debian's `prometheus` package (scripts/test installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
CASES = ROOT / "tests" / "prometheus" / "alerts_test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: apt-get install prometheus (scripts/test does)"
)


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    out = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 8 rules found" in out.stdout


@needs_promtool
def test_each_alert_fires_on_its_failure_and_not_before() -> None:
    out = subprocess.run(
        [str(PROMTOOL), "test", "rules", str(CASES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_test_case() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)", RULES.read_text(), re.MULTILINE))
    tested = set(re.findall(r"alertname: (\w+)", CASES.read_text()))
    assert alerts and alerts == tested


def alert_metric_names() -> set[str]:
    """Every stockline_* series the rules read (the metrics test checks they exist)."""
    return set(re.findall(r"\b(stockline_[a-z_]+)", RULES.read_text()))
