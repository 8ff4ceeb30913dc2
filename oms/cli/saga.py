"""``oms saga …``: the saga ops API from a terminal, as tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from oms.cli.common import console
from oms.config import load_settings
from shared.auth import mint_token
from shared.web.app import API_PREFIX

saga_app = typer.Typer(no_args_is_help=True, help="List, inspect, retry, abort and replay sagas.")


def _client() -> httpx.Client:
    settings = load_settings()
    token = mint_token(settings.jwt_key, sub="oms-cli", roles=["ops"], ttl_seconds=300)
    return httpx.Client(
        base_url=f"{settings.url_for('saga')}{API_PREFIX}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _call(method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client() as client:
            response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        console.print(f"[red]saga service unreachable: {exc}[/red]")
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if response.content else ""
        console.print(f"[red]{response.status_code}: {detail}[/red]")
        raise typer.Exit(1)
    return response.json()


StateOption = Annotated[
    str | None,
    typer.Option("--state", help="e.g. failed, refunding_payment; compensating: every undo"),
]
StuckOption = Annotated[
    bool,
    typer.Option(
        "--stuck",
        help="only stuck sagas: retrying (the awaited command sent more than once) "
        "or overdue (deadline passed without firing)",
    ),
]
OrderOption = Annotated[str | None, typer.Option("--order", help="the order's id")]
UserOption = Annotated[str | None, typer.Option("--user", help="the customer's id")]


def _filter(state: str | None, stuck: bool, order: str | None, user: str | None) -> dict[str, Any]:
    """The list filter, camelCase, with only the criteria given."""
    criteria: dict[str, Any] = {"state": state, "orderId": order, "userId": user}
    if stuck:
        criteria["stuck"] = True
    return {name: value for name, value in criteria.items() if value is not None}


@saga_app.command("list")
def list_sagas(
    state: StateOption = None,
    stuck: StuckOption = False,
    order: OrderOption = None,
    user: UserOption = None,
    limit: int = 50,
) -> None:
    """Sagas, newest first; a stuck one says why (what it waits on, since when, attempts)."""
    # httpx sends True as `true`, as the API reads it.
    params: dict[str, Any] = {"limit": limit, **_filter(state, stuck, order, user)}
    page = _call("GET", "/sagas", params=params)
    table = Table("saga", "state", "step", "tries", "v", "updated", "reason", "stuck")
    for s in page["items"]:
        table.add_row(
            s["id"],
            s["state"],
            s["step"] or "",
            str(s["attempts"] or ""),
            str(s["version"]),
            s["updatedAt"],
            s["failureReason"] or "",
            s["stuck"] or "",
        )
    console.print(table)
    if page["nextCursor"]:
        console.print(f"(more than {limit}: narrow the filter or raise --limit)")


@saga_app.command("show")
def show(saga_id: str) -> None:
    """The saga's state and its timeline in words, with who and why for operator actions."""
    s = _call("GET", f"/sagas/{saga_id}")
    console.print(
        f"[bold]{s['id']}[/bold] {s['state']} step={s['step']} attempts={s['attempts']} "
        f"version={s['version']}"
    )
    if s["failureReason"]:
        console.print(f"reason: {s['failureReason']}")
    if s["stuck"]:
        console.print(f"[yellow]stuck: {s['stuck']}[/yellow]")
    if s["ahead"]:
        console.print(f"ahead: {' → '.join(s['ahead'])}")
    table = Table("at", "what happened")
    for h in s["history"]:
        table.add_row(h["at"], h["text"])
    console.print(table)


def _operate_many(
    action: str,
    ids: list[str],
    criteria: dict[str, Any],
    reason: str,
    yes: bool,
) -> None:
    """One saga by id as ``POST /sagas/{id}/ACTION``; several, or a filter, in one
    bulk request after confirming how many; each saga's outcome printed."""
    if ids and criteria:
        console.print("[red]name sagas by id or by filter, not both[/red]")
        raise typer.Exit(2)
    if len(ids) == 1:
        s = _call("POST", f"/sagas/{ids[0]}/{action}", json={"reason": reason})
        console.print(f"{s['id']} → {s['state']}")
        return
    if not ids and not criteria:
        console.print("[red]name the sagas: ids, or --state/--stuck/--order/--user[/red]")
        raise typer.Exit(2)
    if criteria:
        page = _call("GET", "/sagas", params={"limit": 500, **criteria})
        count = f"{len(page['items'])}{'+' if page['nextCursor'] else ''}"
        body: dict[str, Any] = {"filter": criteria, "reason": reason}
    else:
        count, body = str(len(set(ids))), {"ids": ids, "reason": reason}
    if count == "0":
        console.print("no saga matches")
        return
    if not yes and not typer.confirm(f"{action} {count} sagas?"):
        raise typer.Exit(1)
    result = _call("POST", f"/sagas/{action}", json=body)
    table = Table("saga", "outcome", "state")
    for outcome in result["outcomes"]:
        table.add_row(
            outcome["id"],
            "ok" if outcome["ok"] else f"[red]{outcome['error']}[/red]",
            outcome["state"] or "",
        )
    console.print(table)
    console.print(f"{result['succeeded']} of {result['requested']} sagas: {action} done")
    if result["succeeded"] < result["requested"]:
        raise typer.Exit(1)


Ids = Annotated[list[str] | None, typer.Argument(help="saga (order) ids; or use a filter")]
Reason = Annotated[str, typer.Option("--reason", help="why: recorded with who asked")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask to confirm")]


def _many_command(action: str, done: str, doc: str) -> None:
    """Register ``oms saga ACTION``: by ids or by filter, with a reason."""

    def command(
        ids: Ids = None,
        reason: Reason = f"{done} from the CLI",
        state: StateOption = None,
        stuck: StuckOption = False,
        order: OrderOption = None,
        user: UserOption = None,
        yes: Yes = False,
    ) -> None:
        _operate_many(action, ids or [], _filter(state, stuck, order, user), reason, yes)

    command.__doc__ = doc
    saga_app.command(action)(command)


_many_command(
    "retry",
    "retried",
    "Re-send what a saga waits on (or resume a failed compensation): one, several ids, "
    "or every saga a filter selects.",
)
_many_command(
    "abort", "aborted", "Compensate now: one saga, several ids, or every saga a filter selects."
)


@saga_app.command("replay")
def replay(saga_id: str) -> None:
    report = _call("GET", f"/sagas/{saga_id}/replay")
    if report["ok"]:
        console.print(f"{saga_id}: {report['inputs']} inputs replayed, no divergence")
        return
    table = Table("#", "input", "recorded", "now")
    for d in report["divergences"]:
        table.add_row(
            str(d["index"]),
            d["input"].get("type") or d["input"].get("kind", ""),
            json.dumps(d["expected"]),
            json.dumps(d["actual"]) if d["actual"] else (d["error"] or ""),
        )
    console.print(table)
    raise typer.Exit(1)


@saga_app.command("export")
def export(
    saga_id: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="the scenario file (default: stdout)")
    ] = None,
) -> None:
    """Write the saga as a scenario file that reproduces it (set-up, inputs, outcome)."""
    import asyncio

    from oms.scenario.client import SystemApi
    from oms.scenario.export import ExportError, export_saga
    from oms.scenario.loader import dump_yaml

    async def read() -> dict[str, Any]:
        api = SystemApi(load_settings())
        try:
            return await export_saga(api, saga_id)
        finally:
            await api.aclose()

    try:
        scenario = asyncio.run(read())
    except ExportError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    except httpx.TransportError as exc:
        console.print(f"[red]a service is unreachable: {exc}[/red]")
        raise typer.Exit(2) from None
    text = dump_yaml(scenario)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")
