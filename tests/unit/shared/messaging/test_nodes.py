"""Broker settings listing a cluster's nodes: split, masked, and sized for replicas;
the process's consumer priority."""

from __future__ import annotations

from shared.messaging.nodes import first_url, quorum_replicas, redact_urls, split_urls
from shared.messaging.topology import export_definitions, standard_topology
from shared.settings import DRAWN_CONSUMER_PRIORITY, Settings

THREE = "amqp://a:s1@h1:5672/v, amqp://a:s2@h2:5673/v,amqp://a:s3@h3/v"


def test_a_list_of_nodes_is_split_on_commas_ignoring_blanks() -> None:
    assert split_urls(THREE + ",") == [
        "amqp://a:s1@h1:5672/v",
        "amqp://a:s2@h2:5673/v",
        "amqp://a:s3@h3/v",
    ]
    assert first_url(THREE) == "amqp://a:s1@h1:5672/v"
    assert first_url("amqp://h/") == "amqp://h/"


def test_every_password_of_a_list_is_masked() -> None:
    masked = redact_urls(THREE)
    assert masked == "amqp://a:***@h1:5672/v,amqp://a:***@h2:5673/v,amqp://a:***@h3/v"


def test_a_url_without_password_is_left_as_it_is() -> None:
    assert redact_urls("amqp://h1/,amqp://h2/") == "amqp://h1/,amqp://h2/"


def test_quorum_queues_get_three_replicas_only_on_three_nodes_or_more() -> None:
    assert quorum_replicas(None) is None
    assert quorum_replicas("amqp://h1/") is None
    assert quorum_replicas("amqp://h1/,amqp://h2/") is None
    assert quorum_replicas(THREE) == 3
    assert quorum_replicas(THREE + ",amqp://a:s4@h4/v") == 3


def test_settings_size_replicas_from_the_shared_or_a_components_own_url() -> None:
    assert Settings(broker_url="amqp://h1/", jwt_secret="x" * 40).quorum_replicas is None
    assert Settings(broker_url=THREE, jwt_secret="x" * 40).quorum_replicas == 3
    assert Settings(saga_broker_url=THREE, jwt_secret="x" * 40).quorum_replicas == 3


def test_the_exported_definitions_say_how_many_replicas_each_quorum_queue_gets() -> None:
    single = export_definitions(standard_topology())
    cluster = export_definitions(standard_topology(quorum_replicas=3))
    assert all("x-quorum-initial-group-size" not in q["arguments"] for q in single["queues"])
    assert cluster["queues"], "no queue exported"
    for queue in cluster["queues"]:
        assert queue["arguments"]["x-queue-type"] == "quorum"
        assert queue["arguments"]["x-quorum-initial-group-size"] == 3, queue["name"]


def test_a_process_draws_one_priority_unless_one_is_set() -> None:
    drawn = Settings().process_consumer_priority
    assert drawn == Settings().process_consumer_priority == DRAWN_CONSUMER_PRIORITY
    assert 1 <= drawn <= 1000
    assert Settings(consumer_priority=0).process_consumer_priority == 0
