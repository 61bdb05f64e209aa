"""Property-based: random sequences of stock operations keep S-1…S-6 after every step."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from tests.fixtures.server import Shop

quantities = st.integers(min_value=1, max_value=6)
thresholds = st.one_of(st.none(), st.integers(min_value=0, max_value=8))


class Model:
    def __init__(self) -> None:
        self.stock: dict[int, int] = {}
        self.threshold: dict[int, int | None] = {}
        self.tracking: dict[int, bool] = {}
        self.low: dict[int, bool] = {}
        self.breaches: dict[int, int] = {}
        self.open: dict[int, bool] = {}  # an open breach (until restock re-arms it)
        self.global_tracking = True

    def effective(self, pid: int) -> bool:
        return self.global_tracking and self.tracking[pid]

    def settle(self, pid: int) -> None:
        """Apply S-3 and S-6 after stock or threshold moved."""
        t = self.threshold[pid]
        low = t is not None and self.stock[pid] <= t
        if low and not self.low[pid] and self.effective(pid):
            self.breaches[pid] += 1
            self.open[pid] = True
        elif self.low[pid] and not low:
            self.open[pid] = False
        self.low[pid] = low

    def tracking_changed(self, was_effective: dict[int, bool]) -> None:
        """§7.1: effective tracking turning on for a low product with no open breach."""
        for pid, before in was_effective.items():
            if self.effective(pid) and not before and self.low[pid] and not self.open[pid]:
                self.breaches[pid] += 1
                self.open[pid] = True


def make_machine(shop: Shop) -> type[RuleBasedStateMachine]:
    class StockMachine(RuleBasedStateMachine):
        products = Bundle("products")

        def __init__(self) -> None:
            super().__init__()
            self.model = Model()
            self.admin = shop.admin()
            self.kiosk = shop.kiosk()
            self._set_global(True)

        def teardown(self) -> None:
            self._set_global(True)
            self.admin.close()
            self.kiosk.close()

        def _set_global(self, enabled: bool) -> None:
            resp = self.admin.put("/api/admin/config", json={"inventory_tracking_enabled": enabled})
            assert resp.status_code == 200, resp.text

        @initialize(
            target=products,
            stocks=st.lists(st.integers(0, 10), min_size=2, max_size=2),
            limits=st.lists(thresholds, min_size=2, max_size=2),
        )
        def create(self, stocks: list[int], limits: list[int | None]) -> Any:
            made = []
            for stock, limit in zip(stocks, limits, strict=True):
                p = shop.create_product(stock=stock, threshold=limit)
                pid = p["id"]
                m = self.model
                m.stock[pid], m.threshold[pid], m.tracking[pid] = stock, limit, True
                m.low[pid], m.breaches[pid], m.open[pid] = False, 0, False
                m.settle(pid)  # the first ledger row (or a refresh) computes the flags
                made.append(pid)
            return multiple(*made)

        @rule(pids=st.lists(products, min_size=1, max_size=3), qty=quantities)
        def purchase(self, pids: list[int], qty: int) -> None:
            items = [{"product_id": pid, "quantity": qty} for pid in pids]
            resp = self.kiosk.post("/api/purchases", json={"items": items})
            assert resp.status_code == 201, resp.text
            for pid in pids:
                if self.model.effective(pid):  # S-4: untracked purchases move no stock
                    self.model.stock[pid] -= qty
                    self.model.settle(pid)

        @rule(pid=products, delta=st.integers(-8, 8).filter(bool))
        def adjust(self, pid: int, delta: int) -> None:
            resp = self.admin.post(
                f"/api/inventory/{pid}/adjustments", json={"delta": delta, "reason": "property"}
            )
            assert resp.status_code == 201, resp.text
            self.model.stock[pid] += delta
            self.model.settle(pid)

        @rule(pid=products, counted=st.integers(0, 12))
        def reconcile(self, pid: int, counted: int) -> None:
            resp = self.admin.post(
                f"/api/inventory/{pid}/reconciliations",
                json={"counted_quantity": counted, "reason": "count"},
            )
            assert resp.status_code == 201, resp.text
            expected_delta = counted - self.model.stock[pid]
            entry = resp.json()["entry"]
            assert (entry["delta"] if entry else 0) == expected_delta  # S-5
            self.model.stock[pid] = counted
            self.model.settle(pid)

        @rule(pid=products, enabled=st.booleans())
        def product_tracking(self, pid: int, enabled: bool) -> None:
            resp = self.admin.put(f"/api/inventory/{pid}/tracking", json={"enabled": enabled})
            assert resp.status_code == 200, resp.text
            before = {pid: self.model.effective(pid)}
            self.model.tracking[pid] = enabled
            self.model.tracking_changed(before)

        @rule(enabled=st.booleans())
        def global_tracking(self, enabled: bool) -> None:
            self._set_global(enabled)
            before = {pid: self.model.effective(pid) for pid in self.model.stock}
            self.model.global_tracking = enabled
            self.model.tracking_changed(before)

        @rule(pid=products, limit=thresholds)
        def threshold(self, pid: int, limit: int | None) -> None:
            resp = self.admin.patch(f"/api/products/{pid}", json={"low_stock_threshold": limit})
            assert resp.status_code == 200, resp.text
            self.model.threshold[pid] = limit
            self.model.settle(pid)

        @invariant()
        def rules_hold(self) -> None:
            if not self.model.stock:
                return
            with psycopg.connect(shop.db_url) as conn:
                rows = conn.execute(
                    "SELECT p.id, p.stock_quantity, s.current_stock, s.low_stock_flag,"
                    " s.negative_flag, (SELECT COALESCE(sum(delta), 0) FROM inventory_ledger l"
                    "  WHERE l.product_id = p.id),"
                    " (SELECT count(*) FROM email_notification_log n WHERE n.product_id = p.id"
                    "  AND n.type = 'low_stock')"
                    " FROM products p JOIN inventory_snapshot s ON s.product_id = p.id"
                    " WHERE p.id = ANY(%s)",
                    (list(self.model.stock),),
                ).fetchall()
            for pid, stock, current, low, negative, ledger_sum, notes in rows:
                expected = self.model.stock[pid]
                assert stock == current == ledger_sum == expected, pid  # S-1
                assert negative == (expected < 0)  # S-2
                assert low == self.model.low[pid]  # S-3
                assert notes == self.model.breaches[pid]  # S-6

    return StockMachine


@pytest.mark.timeout(600)
def test_random_operation_sequences_keep_the_ledger_rules(shop: Shop) -> None:
    machine = make_machine(shop)
    machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    machine.TestCase().runTest()
