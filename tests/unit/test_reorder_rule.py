"""The reorder rule: cover the lead time and still be at the threshold on delivery."""

from __future__ import annotations

from stockline.inventory.insight import suggest


def test_sales_give_a_rate_a_cover_and_an_order_for_lead_time_plus_threshold() -> None:
    rule = suggest(sold=56, days=28, current_stock=10, threshold=5, lead_days=7)
    assert rule.sold_per_day == 2.0
    assert rule.days_of_cover == 5.0
    assert rule.suggested_reorder_quantity == 2 * 7 + 5 - 10


def test_nothing_sold_means_no_cover_figure_and_only_the_threshold_gap() -> None:
    rule = suggest(sold=0, days=28, current_stock=3, threshold=5, lead_days=7)
    assert (rule.sold_per_day, rule.days_of_cover) == (0.0, None)
    assert rule.suggested_reorder_quantity == 2


def test_well_stocked_products_need_no_order_and_never_a_negative_one() -> None:
    rule = suggest(sold=28, days=28, current_stock=500, threshold=None, lead_days=7)
    assert rule.suggested_reorder_quantity == 0
    assert rule.days_of_cover == 500.0


def test_empty_or_negative_stock_has_zero_days_of_cover() -> None:
    rule = suggest(sold=10, days=5, current_stock=-4, threshold=None, lead_days=3)
    assert rule.days_of_cover == 0.0
    assert rule.suggested_reorder_quantity == 6 + 4


def test_a_float_rounding_error_does_not_order_an_extra_unit() -> None:
    # 3 units in 30 days over 30 lead days is 0.1 * 30 = 3.0000000000000004 in floats
    rule = suggest(sold=3, days=30, current_stock=0, threshold=None, lead_days=30)
    assert rule.suggested_reorder_quantity == 3


def test_fractional_need_rounds_up_to_whole_units() -> None:
    rule = suggest(sold=1, days=28, current_stock=0, threshold=0, lead_days=7)
    assert rule.suggested_reorder_quantity == 1
