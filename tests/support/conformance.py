"""Schemathesis against a running component, as a client would run it.

``st run --checks all`` with an ops token, every phase (examples, coverage with
its boundary values and unsupported methods, fuzzing, stateful sequences), its
JUnit report read back as ``(operation, check)`` failures.  It runs as its own
process, off the event loop that serves the component on a real socket.
"""

from __future__ import annotations

import asyncio
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CHECK_NAMES = {
    "ST101": "not_a_server_error",
    "ST102": "not_a_server_error",
    "ST103": "status_code_conformance",
    "ST104": "content_type_conformance",
    "ST105": "content_type_conformance",
    "ST106": "content_type_conformance",
    "ST107": "response_headers_conformance",
    "ST108": "response_schema_conformance",
    "ST109": "response_schema_conformance",
    "ST110": "response_schema_conformance",
    "ST111": "response_schema_conformance",
    "ST112": "max_response_time",
    "ST201": "negative_data_rejection",
    "ST202": "positive_data_acceptance",
    "ST203": "missing_required_header",
    "ST204": "unsupported_method",
    "ST205": "allow_header_conformance",
}
"""Schemathesis's failure codes (``st explain``), by the check that reports each."""


@dataclass(frozen=True)
class Failure:
    operation: str
    """``"GET /api/v1/orders"``, or ``"Stateful tests"`` for a sequence of calls."""
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.check}\n{self.detail}"


async def schemathesis_failures(
    base_url: str,
    *,
    token: str,
    workdir: Path,
    max_examples: int,
    phases: Sequence[str],
    exclude_paths: Sequence[str] = (),
    excluded_checks: Mapping[tuple[str, str], str] | None = None,
) -> list[Failure]:
    """Every failure ``st run --checks all`` finds at ``base_url`` (errors, such
    as a request that timed out, included), but those of a check left out for one
    operation: ``excluded_checks`` names them by ``(operation, check)``, each with
    its reason."""
    report = workdir / "junit.xml"
    args = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(max_examples),
        "--seed",
        "1",  # the same cases on every run: CI never meets a new one by chance
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--phases",
        ",".join(phases),
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for path in exclude_paths:
        args += ["--exclude-path", path]
    process = await asyncio.create_subprocess_exec(
        *args, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    failures = _read_junit(report) if process.returncode in (0, 1) else []
    if process.returncode != 0 and not failures:
        raise AssertionError(
            f"schemathesis exited {process.returncode}:\n{output.decode(errors='replace')}"
        )
    return [f for f in failures if (f.operation, f.check) not in (excluded_checks or {})]


def _read_junit(report: Path) -> list[Failure]:
    failures = []
    for case in ET.parse(report).iter("testcase"):
        for outcome in [*case.iter("failure"), *case.iter("error")]:
            code = outcome.get("message") or outcome.tag
            check = CHECK_NAMES.get(code, code)
            failures.append(Failure(case.get("name", "?"), check, outcome.text or ""))
    return failures
