"""Each component's OpenAPI document tells the truth, on RabbitMQ and PostgreSQL.

Schemathesis runs with an ops token and all checks (``st run --checks all``)
against all eight documents (OMS's seven and the card provider's) while every component runs: no 5xx, every status
code and content type documented (problem answers as ``application/problem+json``),
``Allow`` on a 405 naming exactly the documented methods, and no request the
document calls valid refused — except where the reason is one no schema can
state, named in :data:`EXCLUDED_CHECKS` below.

On the real stack only: the documents and the handlers are the same on both, and
the sixteen fuzzing processes of both stacks took a ninth of the suite's CPU; the
embedded stack's answers to bad input are tested in tests/integration/
test_hostile_input.py and the services' own tests, on both stacks.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import oms.components
from tests.support.conformance import Failure, schemathesis_failures
from tests.support.stack import ON_POSTGRES_ONLY, Stack, on_socket
from tests.support.system import running_system

COMPONENTS = tuple(oms.components.COMPONENTS)
MAX_EXAMPLES = 5
PHASES = ("examples", "coverage", "fuzzing")
"""The stateful phase (sequences of calls along the documents' links) is left
out: it took most of the time and found only what the others find."""

NOT_A_CURSOR_HANDED_OUT = (
    "any text is a schema-valid cursor, but only one the API handed out means a "
    "position in the listing; the others are refused naming `cursor`"
)
UNKNOWN_REFERENCE = (
    "a schema-valid id of a product or payment method that does not exist is "
    "refused naming the field: existence is data, not schema"
)
KEY_REUSED = (
    "Idempotency-Key values are unique by contract, which a schema cannot say; "
    "the fuzzer repeats them with other bodies, rightly refused (422 naming the header)"
)
EXCLUDED_CHECKS: dict[str, dict[tuple[str, str], str]] = {
    "card-provider": {
        ("POST /api/v1/charges", "positive_data_acceptance"): KEY_REUSED,
        ("POST /api/v1/charges/{charge_id}/refunds", "positive_data_acceptance"): KEY_REUSED,
    },
    "orders": {
        ("GET /api/v1/orders", "positive_data_acceptance"): NOT_A_CURSOR_HANDED_OUT,
        ("POST /api/v1/orders", "positive_data_acceptance"): KEY_REUSED,
    },
    "users": {
        ("POST /api/v1/users/register", "positive_data_acceptance"): (
            "the `email` format admits reserved domains (RFC 6761: `.test`, `.invalid`), "
            "which registration rightly refuses: no mail could ever reach them"
        ),
    },
    "saga": {
        ("GET /api/v1/sagas", "positive_data_acceptance"): NOT_A_CURSOR_HANDED_OUT,
    },
    "bff-web": {
        ("GET /api/v1/orders", "positive_data_acceptance"): NOT_A_CURSOR_HANDED_OUT,
        ("POST /api/v1/checkout", "positive_data_acceptance"): UNKNOWN_REFERENCE,
        ("POST /api/v1/auth/register", "positive_data_acceptance"): (
            "as the users service's registration: reserved email domains are refused"
        ),
    },
    "bff-mobile": {
        ("GET /api/v1/orders", "positive_data_acceptance"): NOT_A_CURSOR_HANDED_OUT,
        ("POST /api/v1/checkout", "positive_data_acceptance"): UNKNOWN_REFERENCE,
        ("POST /api/v1/auth/register", "positive_data_acceptance"): (
            "as the users service's registration: reserved email domains are refused"
        ),
    },
}
"""Per component, a check left out for one operation on purpose, each with its reason."""

BFFS = ("bff-web", "bff-mobile")


def a_bff_gave_up_on_a_slow_service(component: str, failure: Failure) -> bool:
    """A BFF answers a documented 504 naming the service when that service is
    slower than its per-call budget (2 s): eight fuzzers at once on a loaded
    machine can make it so.  Any other 5xx still fails the test."""
    return (
        component in BFFS
        and failure.check == "not_a_server_error"
        and "[504] Gateway Timeout" in failure.detail
    )


FAULTS = "/api/v1/_faults"
EXCLUDED_PATHS = {
    "saga": ["/api/v1/sagas/stream", FAULTS],
    **{service: [FAULTS] for service in ("orders", "inventory", "users", "payments")},
}
"""Operations left out, with the reason: the saga's event stream never ends, so no
client can read one of its answers to the end (tests/integration/saga/test_ops.py
covers it); a schema-valid fault rule makes the fuzzer's own later calls fail,
hang or lose their connection on purpose (tests/integration/services/
test_route_faults.py and the message fault tests cover ``/_faults``)."""


@pytest.mark.slow
@pytest.mark.timeout(1200)
@ON_POSTGRES_ONLY
async def test_every_openapi_document_tells_the_truth(stack: Stack, tmp_path: Path) -> None:
    async with (
        # Eight runs at once on one loop are slower than any client would be:
        # a BFF's read deadline (1.5 s) would answer 504 where nothing failed.
        running_system(stack, faults_enabled=True, bff_request_deadline_seconds=30) as system,
        AsyncExitStack() as sockets,
    ):
        urls = [await sockets.enter_async_context(on_socket(system.apps[c])) for c in COMPONENTS]
        for component in COMPONENTS:
            (tmp_path / component).mkdir()
        # The eight runs at once: each is a process of its own, the components
        # answer them on this loop.
        found = await asyncio.gather(
            *(
                schemathesis_failures(
                    url,
                    # An ops user of its own per document: what one run creates
                    # (orders with ids of any shape) is not what another lists.
                    token=stack.token(f"ops-{component}", "ops"),
                    workdir=tmp_path / component,
                    max_examples=MAX_EXAMPLES,
                    phases=PHASES,
                    exclude_paths=EXCLUDED_PATHS.get(component, ()),
                    excluded_checks=EXCLUDED_CHECKS.get(component),
                )
                for component, url in zip(COMPONENTS, urls, strict=True)
            )
        )
    failures = {
        component: kept
        for component, listed in zip(COMPONENTS, found, strict=True)
        if (kept := [f for f in listed if not a_bff_gave_up_on_a_slow_service(component, f)])
    }
    assert not failures, "\n\n".join(
        f"{component} — {failure}" for component, listed in failures.items() for failure in listed
    )
