"""bench/chart.py: each bar is judged against its own function's target, as the report's tables judge it."""

from bench.chart import FAIL, REAL, bar_colours
from bench.report.targets import cold_start_limit


def test_a_cold_start_ratio_is_coloured_against_its_own_functions_target():
    # 1.3× is within the 1.5× of create, and above the 1.2× that get and the consumer are held to.
    rows = [
        (function, 1.3, None, cold_start_limit(function))
        for function in ("create_order", "get_order", "order_events")
    ]
    assert bar_colours(rows) == [REAL, FAIL, FAIL]


def test_a_ratio_at_its_target_passes_and_an_unmeasured_one_does_not():
    limit = cold_start_limit("get_order")
    assert bar_colours([("get_order", limit, None, limit), ("get_order", None, None, limit)]) == [REAL, FAIL]
