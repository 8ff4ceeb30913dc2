"""The local cluster's layout: its addresses, the committed HAProxy configuration,
and how recovery is read from the sagas' end times."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oms.cli.bench import cluster_infrastructure
from oms.cluster.control import down, strays
from oms.cluster.fleet import await_ready, consumer_priority, haproxy_config
from oms.cluster.layout import REPLICAS, Layout, spawn
from oms.cluster.load import Outcome, recovery
from shared.messaging.nodes import quorum_replicas, split_urls
from shared.persistence.database import with_hosts_in_query

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_haproxy_configuration_is_the_default_layouts() -> None:
    committed = (ROOT / "haproxy" / "oms-cluster.cfg").read_text()
    assert committed == haproxy_config(Layout(root=Path("/tmp/oms-cluster"))), (
        "haproxy/oms-cluster.cfg is stale: oms cluster haproxy-config > haproxy/oms-cluster.cfg"
    )


def test_every_component_is_balanced_over_two_replicas_at_their_own_ports() -> None:
    config = haproxy_config(Layout(root=Path("/x"), component_offset=40000))
    assert "bind 127.0.0.1:43010" in config
    assert "server bff-web-1 127.0.0.1:43110 check" in config
    assert "server bff-web-2 127.0.0.1:43210 check" in config


def test_replica_1_consumes_first_and_every_next_one_takes_its_overflow() -> None:
    priorities = [consumer_priority(r) for r in range(1, REPLICAS + 1)]
    assert priorities == sorted(set(priorities), reverse=True)
    assert min(priorities) >= 1


def test_components_are_given_three_nodes_and_both_database_hosts() -> None:
    layout = Layout(root=Path("/x"), base=6000)
    nodes = split_urls(layout.broker_url())
    assert [n.rsplit(":", 1)[1] for n in nodes] == ["6001/oms", "6002/oms", "6003/oms"]
    assert quorum_replicas(layout.broker_url()) == 3
    assert layout.node_name("c1") == "c1-6000@localhost"
    assert Layout(root=Path("/x")).node_name("c2") == "c2@localhost"
    url = with_hosts_in_query(layout.database_url())
    assert "host=127.0.0.1:6031&host=127.0.0.1:6032" in url
    assert url.endswith("target_session_attrs=read-write")


def test_recovery_is_the_end_of_the_longest_pause_in_completions_after_the_fault() -> None:
    fault = datetime(2026, 1, 1, tzinfo=UTC)
    ends = [fault + timedelta(seconds=s) for s in (-3, 0.5, 1.0, 9.0, 9.5, 10.0)]
    outcome = Outcome(
        {str(n): "completed" for n in range(6)}, {str(n): at for n, at in enumerate(ends)}
    )
    assert recovery(fault, outcome) == 9.0
    assert recovery(fault, Outcome({}, {})) == 0.0


def test_a_bench_on_the_cluster_makes_its_vhost_on_every_node_and_its_databases_on_both_hosts(
    tmp_path: Path,
) -> None:
    Layout(root=tmp_path, base=6000).save()
    infra = cluster_infrastructure(tmp_path)
    nodes = split_urls(infra.broker_url("oms-bench-1"))
    assert [n.rsplit(":", 1)[1] for n in nodes] == [
        "6001/oms-bench-1",
        "6002/oms-bench-1",
        "6003/oms-bench-1",
    ]
    assert quorum_replicas(infra.broker_url("v")) == 3
    assert infra.management.endswith(":6011")
    assert infra.database_url("db").startswith("postgresql+asyncpg://postgres@127.0.0.1:6031,")
    assert infra.database_url("db").endswith("/db?target_session_attrs=read-write")


def test_the_cluster_comes_down_with_a_process_its_state_file_does_not_name(
    tmp_path: Path,
) -> None:
    root = tmp_path / "cluster"
    root.mkdir()
    Layout(root=root).save()
    # A broker node started again by another process: only its environment says whose it is.
    again = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={"HOME": str(root / "rabbitmq" / "home")},
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert again.pid in strays(root)
        assert bystander.pid not in strays(root)
        down(root)
        assert again.wait(timeout=10) == -signal.SIGKILL
        assert bystander.poll() is None
        assert not root.exists()
    finally:
        for process in (again, bystander):
            process.kill()
            process.wait()


def test_a_replica_that_exits_before_it_is_ready_fails_the_start_at_once(tmp_path: Path) -> None:
    log = tmp_path / "payments-1.log"
    pid = spawn(
        [sys.executable, "-c", "import sys; sys.exit('payments: cannot listen: in use')"], log
    )
    began = time.monotonic()

    with pytest.raises(RuntimeError) as failed:
        # A port nothing answers on: only the process's end can say it will never be ready.
        await_ready(
            {"payments-1": "http://127.0.0.1:9"},
            timeout=120,
            logs=tmp_path,
            pids={"payments-1": pid},
        )

    assert time.monotonic() - began < 30
    assert "exited before it was ready: payments-1" in str(failed.value)
    assert "cannot listen: in use" in str(failed.value)
