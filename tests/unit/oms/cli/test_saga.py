"""``oms saga list`` on an 80-column terminal: ids whole, and data printed as text.
(Against a running saga service, not a terminal: tests/integration/saga.)"""

from __future__ import annotations

import io

import httpx
import pytest
import respx
from rich.console import Console
from typer.testing import CliRunner

import oms.cli.saga as saga_cli

SAGA_URL = "http://saga.test"
ID = "bd48e66a-5c1f-4a77-9a0e-3f2d9c1e7b40"


def a_saga(**fields: object) -> dict[str, object]:
    return {
        "id": ID,
        "state": "failed",
        "step": "payment.refund",
        "attempts": 4,
        "version": 12,
        "userId": "u-1",
        "createdAt": "2026-12-06T07:37:09+00:00",
        "updatedAt": "2026-12-06T07:37:20+00:00",
        "deadlineAt": None,
        "failureReason": "refund declined: [bold]the refund was declined[/bold]",
        "stuck": None,
        **fields,
    }


def test_a_terminal_of_80_columns_shows_whole_ids_and_reasons_as_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, width=80, force_terminal=True, color_system=None)
    monkeypatch.setattr(saga_cli, "console", terminal)
    page = {"items": [a_saga()], "nextCursor": None}
    detail = {**a_saga(), "ahead": [], "history": []}
    env = {"OMS_SAGA_URL": SAGA_URL, "OMS_JWT_SECRET": "x" * 48}
    with respx.mock(base_url=SAGA_URL) as api:
        api.get("/api/v1/sagas").mock(return_value=httpx.Response(200, json=page))
        api.get(f"/api/v1/sagas/{ID}").mock(return_value=httpx.Response(200, json=detail))
        listed = CliRunner().invoke(saga_cli.saga_app, ["list"], env=env)
        listing = screen.getvalue()
        shown = CliRunner().invoke(saga_cli.saga_app, ["show", ID], env=env)

    assert listed.exit_code == 0, listed.output
    assert ID in listing
    assert max(len(line) for line in listing.splitlines()) <= 80
    assert shown.exit_code == 0, shown.output
    lines = screen.getvalue().removeprefix(listing).splitlines()
    assert (
        lines[0]
        == f"{ID} failed: a retry resumes with payment.refund (sent 4 times so far) (version 12)"
    )
    # Markup in the data is shown, not obeyed.
    assert lines[1] == "reason: refund declined: [bold]the refund was declined[/bold]"


def test_the_person_acting_is_named_by_as_or_by_the_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subjects = []

    def record(request: httpx.Request) -> httpx.Response:
        from shared.auth import verify_token

        token = request.headers["Authorization"].removeprefix("Bearer ")
        subjects.append(verify_token("x" * 48, token).sub)
        return httpx.Response(200, json=a_saga(state="refunding_payment"))

    monkeypatch.setattr(saga_cli.getpass, "getuser", lambda: "login-name")
    env = {"OMS_SAGA_URL": SAGA_URL, "OMS_JWT_SECRET": "x" * 48}
    with respx.mock(base_url=SAGA_URL) as api:
        api.post(f"/api/v1/sagas/{ID}/retry").mock(side_effect=record)
        for args in (["--as", "alice", "retry", ID], ["retry", ID]):
            result = CliRunner().invoke(saga_cli.saga_app, args, env=env)
            assert result.exit_code == 0, result.output

    assert subjects == ["alice", "login-name"]
