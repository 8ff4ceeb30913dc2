"""The Grafana board cannot drift from the code: every metric its queries name is
on some component's ``/metrics`` of a running system, and Prometheus scrapes
every component."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.system import System

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "grafana" / "dashboards" / "oms.json"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}
"""The series a family of each type exposes besides (or instead of) its own name."""

_NOT_NAMES = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # strings
    r"|\{[^}]*\}"  # label matchers
    r"|\[[^\]]*\]"  # ranges
    r"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"  # label lists
)
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*(?![A-Za-z0-9_:]*\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels
    and strings left out)."""
    bare = _NOT_NAMES.sub(" ", expr)
    return {
        token
        for token in _IDENTIFIER.findall(bare)
        if token.lower() not in _KEYWORDS and not token.replace(".", "").isdigit()
    }


def board_queries() -> list[str]:
    board = json.loads(BOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def exposed(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_metric_names_are_read_from_promql_as_prometheus_reads_them() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, component) (rate(http_x_bucket{component=~"bff-.*"}[5m])))'
    ) == {"http_x_bucket"}
    assert metric_names("sum(rate(a_total[1m])) / sum without (q) (b) > bool 0") == {"a_total", "b"}


async def test_every_metric_the_grafana_board_queries_is_exposed_by_a_running_system(
    system: System,
) -> None:
    clients: dict[str, httpx.AsyncClient] = {
        **system.services,
        "bff-web": system.web,
        "bff-mobile": system.mobile,
    }
    found: set[str] = set()
    for name, client in clients.items():
        response = await client.get("/metrics")
        assert response.status_code == 200, (name, response.text)
        found |= exposed(response.text)

    queried = set().union(*(metric_names(expr) for expr in board_queries()))
    assert queried, "the board queries nothing"
    assert queried - found == set()


def test_prometheus_scrapes_every_component_of_the_compose_file() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    scraped = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    targets = {
        target.split(":")[0]: group["labels"]["component"]
        for job in scraped["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    components = {
        name
        for name, service in compose["services"].items()
        if service.get("command") == ["run", name]
    }
    assert components
    assert set(targets) == components
    assert all(host == component for host, component in targets.items())
    # The board is provisioned from this repository.
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
