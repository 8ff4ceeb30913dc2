"""The results as JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from oms.scenario.report import junit_xml
from oms.scenario.results import Difference, ScenarioResult


def test_junit_xml_carries_each_outcome_and_the_first_difference() -> None:
    results = [
        ScenarioResult("ok", "a.yaml", "passed", 1.5, orders={"o1": "id-1"}),
        ScenarioResult(
            "wrong",
            "b.yaml",
            "failed",
            2.0,
            Difference("stock of kettle available", "4", "3"),
        ),
        ScenarioResult("later", "c.yaml", "skipped", reason="pending: needs a fix"),
    ]

    suite = ET.fromstring(junit_xml(results))

    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    failure = suite.find("testcase[@name='wrong']/failure")
    assert failure is not None
    assert failure.get("message") == "stock of kettle available: expected 4, seen 3"
    skipped = suite.find("testcase[@name='later']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "pending: needs a fix"
