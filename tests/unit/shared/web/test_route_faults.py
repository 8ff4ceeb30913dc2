"""The choice a route fault makes per call: which rule, how long a latency waits."""

from __future__ import annotations

import random
import statistics

from shared.web.faults import RouteFaultRule, RouteFaults

ROUTES = ("/api/v1/users/login", "/api/v1/users/{user_id}")


def test_a_latency_distribution_has_the_median_and_99th_percentile_it_was_given() -> None:
    rule = RouteFaultRule(route="*", mode="latency", p50_ms=20, p99_ms=100)
    draw = random.Random(7)

    waits = [rule.wait(draw) * 1000 for _ in range(50_000)]

    cuts = statistics.quantiles(waits, n=100)
    assert 19 <= cuts[49] <= 21
    assert 92 <= cuts[98] <= 108
    assert min(waits) > 0


def test_a_fixed_latency_waits_exactly_that_long() -> None:
    rule = RouteFaultRule(route="*", mode="latency", delay_ms=250)

    assert rule.wait(random.Random(1)) == 0.25


def test_rules_apply_in_the_order_added_and_the_most_specific_path_is_the_route() -> None:
    faults = RouteFaults(ROUTES, draw=random.Random(3))
    faults.add(RouteFaultRule(route="*", mode="latency", delay_ms=500, ratio=0.1, times=1000))
    faults.add(RouteFaultRule(route="/api/v1/users/login", mode="error", times=1000))

    assert faults.template_of("/api/v1/users/login") == "/api/v1/users/login"
    assert faults.template_of("/api/v1/users/ada") == "/api/v1/users/{user_id}"
    assert faults.template_of("/api/v1/users/ada/extra") is None
    chosen = [faults.take("POST", "/api/v1/users/login") for _ in range(1000)]
    modes = [rule.mode if rule else None for rule in chosen]
    assert 60 <= modes.count("latency") <= 140
    assert modes.count("error") == 1000 - modes.count("latency")
    others = [faults.take("GET", "/api/v1/users/{user_id}") for _ in range(200)]
    assert {rule.mode if rule else None for rule in others} == {None, "latency"}
