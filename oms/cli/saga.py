"""``oms saga …``: the saga ops API from a terminal, as tables (tab-separated
lines when the output is not a terminal, JSON with ``--json``).

What ops do is recorded with who did it: ``--as NAME``, else the subject of
``--token`` (``OMS_OPS_TOKEN``, from ``oms token --sub you --role ops``), else the
login name of whoever runs the command."""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table
from rich.text import Text

from oms.cli.common import console
from oms.config import load_settings
from saga.archive import find_archived
from shared.auth import mint_token
from shared.web.app import API_PREFIX

saga_app = typer.Typer(no_args_is_help=True, help="List, inspect, retry, abort and replay sagas.")


@dataclass
class Caller:
    """Who the commands act as (``oms saga``'s options)."""

    name: str | None = None
    token: str | None = None


caller = Caller()


@saga_app.callback()
def who(
    name: Annotated[
        str | None,
        typer.Option("--as", help="your name, recorded with what you do (default: your login)"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="OMS_OPS_TOKEN",
            help="an ops token (oms token --sub you --role ops); its subject is recorded",
        ),
    ] = None,
) -> None:
    """List, inspect, retry, abort and replay sagas."""
    if name is not None and token is not None:
        _say("name yourself with --as or with a token, not both", "red")
        raise typer.Exit(2)
    caller.name, caller.token = name, token


def _client() -> httpx.Client:
    settings = load_settings()
    token = caller.token or mint_token(
        settings.jwt_key, sub=caller.name or getpass.getuser(), roles=["ops"], ttl_seconds=300
    )
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
        _say(f"saga service unreachable: {exc}", "red")
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if response.content else ""
        _say(f"{response.status_code}: {detail}", "red")
        raise typer.Exit(1)
    return response.json()


def _say(text: str, style: str | None = None) -> None:
    """One line of data: printed as text (never markup), not wrapped, so ids and
    reasons stay whole for whoever copies them."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _print_table(table: Table, rows: list[list[str]]) -> None:
    """``rows`` under ``table``'s headings: a table on a terminal, whole (ids never
    cut) and tab-separated otherwise, for ``cut`` and ``grep``."""
    if not console.is_terminal:
        for line in [[str(c.header) for c in table.columns], *rows]:
            typer.echo("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in line))
        return
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def whereabouts(saga: dict[str, Any]) -> str:
    """Where the saga is, in words true of its state: what it waits on while in
    flight, what a retry resumes once failed, nothing once completed or cancelled."""
    step, attempts = saga["step"], saga["attempts"]
    if saga["state"] == "failed":
        if step is None:
            return "at rest"
        sent = "once" if attempts == 1 else f"{attempts} times"
        return f"a retry resumes with {step} (sent {sent} so far)"
    if step is None:
        return "at rest" if saga["state"] in ("completed", "cancelled") else ""
    return f"waits on {step}" + (f" (attempt {attempts})" if attempts > 1 else "")


JsonOption = Annotated[bool, typer.Option("--json", help="print the answer as JSON")]
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
    kind: Annotated[
        str | None, typer.Option("--kind", help="only sagas of one definition: order, return")
    ] = None,
    limit: int = 50,
    as_json: JsonOption = False,
) -> None:
    """Sagas, newest first; a stuck one says why (what it waits on, since when, attempts)."""
    # httpx sends True as `true`, as the API reads it.
    criteria = _filter(state, stuck, order, user) | ({"kind": kind} if kind else {})
    page = _call("GET", "/sagas", params={"limit": limit, **criteria})
    if as_json:
        _print_json(page)
        return
    if not page["items"]:
        _say("no saga matches" if criteria else "no sagas yet")
        return
    table = Table("saga", "state", "where", "v", "created", "reason", "stuck")
    # Ids whole however narrow the terminal: `show` takes nothing less.
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max(len(s["id"]) for s in page["items"])
    table.columns[1].no_wrap = True
    rows = [
        [
            s["id"],
            s["state"],
            whereabouts(s),
            str(s["version"]),
            s["createdAt"],
            s["failureReason"] or "",
            s["stuck"] or "",
        ]
        for s in page["items"]
    ]
    _print_table(table, rows)
    if page["nextCursor"]:
        _say(f"(more than {limit}: narrow the filter or raise --limit)")


@saga_app.command("show")
def show(
    saga_id: str,
    as_json: JsonOption = False,
    archive: Annotated[
        Path | None,
        typer.Option(help="read the saga from this archive of pruned sagas, not the service"),
    ] = None,
) -> None:
    """The saga's state and its timeline in words, with who and why for operator actions."""
    s = _call("GET", f"/sagas/{saga_id}") if archive is None else find_archived(archive, saga_id)
    if s is None:
        _say(f"saga {saga_id} is not in the archive {archive}", "red")
        raise typer.Exit(1)
    if as_json:
        _print_json(s)
        return
    header = Text(s["id"], style="bold")
    header.append(f" {s['state']}: {whereabouts(s)} (version {s['version']})")
    console.print(header, soft_wrap=True)
    if s["failureReason"]:
        _say(f"reason: {s['failureReason']}")
    if s["stuck"]:
        _say(f"stuck: {s['stuck']}", "yellow")
    if s["ahead"]:
        _say(f"ahead: {' → '.join(s['ahead'])}")
    _print_table(Table("at", "what happened"), [[h["at"], h["text"]] for h in s["history"]])


def _confirm(question: str, action: str) -> None:
    """Ask ``question``; a no ends the command with a line saying nothing was done."""
    if not typer.confirm(question, default=False):
        _say(f"not confirmed: nothing was {ACTIONS_DONE[action]}")
        raise typer.Exit(1)


ACTIONS_DONE = {"retry": "retried", "abort": "aborted"}
MOST_DOUBTS_SHOWN = 10


def _warn_of_doubts(doubts: list[dict[str, str]], count: int) -> None:
    """Say which selected sagas a retry is unlikely to help, before asking."""
    if not doubts:
        return
    _say(
        f"warning: {len(doubts)} of the {count} sagas failed on a refusal, not for want of "
        "an answer: a retry asks again, and they fail again unless the refusal has gone away",
        "yellow",
    )
    for doubt in doubts[:MOST_DOUBTS_SHOWN]:
        _say(f"  {doubt['id']}: {doubt['why']}")
    if len(doubts) > MOST_DOUBTS_SHOWN:
        _say(f"  … and {len(doubts) - MOST_DOUBTS_SHOWN} more")


def _operate_many(
    action: str,
    ids: list[str],
    criteria: dict[str, Any],
    reason: str,
    yes: bool,
    rate: float = 20.0,
) -> None:
    """One saga by id as ``POST /sagas/{id}/ACTION``; several, or a filter, in one
    bulk request after saying what it selects (and, for a retry, which sagas it is
    unlikely to help) and confirming; each saga's outcome printed."""
    if ids and criteria:
        _say("name sagas by id or by filter, not both", "red")
        raise typer.Exit(2)
    if len(ids) == 1:
        s = _call("POST", f"/sagas/{ids[0]}/{action}", json={"reason": reason})
        _say(f"{s['id']} → {s['state']}")
        return
    if not ids and not criteria:
        _say("name the sagas: ids, or --state/--stuck/--order/--user", "red")
        raise typer.Exit(2)
    selection: dict[str, Any] = {"filter": criteria} if criteria else {"ids": ids}
    plan = _call("POST", f"/sagas/{action}/dry-run", json=selection)
    count = plan["selects"]
    if count == 0:
        _say(f"no saga matches: {plan['described']}")
        return
    if count > plan["mostAtOnce"]:
        from oms.cli.jobs import offer_job

        offer_job(action, criteria, plan, reason, rate, yes)
        return
    _warn_of_doubts(plan["doubts"], count)
    question = f"{action} {count} saga{'' if count == 1 else 's'} ({plan['described']})?"
    if not yes:
        _confirm(question, action)
    result = _call("POST", f"/sagas/{action}", json={**selection, "reason": reason})
    rows = [
        [o["id"], "ok" if o["ok"] else str(o["error"]), o["state"] or ""]
        for o in result["outcomes"]
    ]
    _print_table(Table("saga", "outcome", "state"), rows)
    _say(f"{result['succeeded']} of {result['requested']} sagas: {action} done")
    if result["succeeded"] < result["requested"]:
        raise typer.Exit(1)


Ids = Annotated[list[str] | None, typer.Argument(help="saga (order) ids; or use a filter")]
Reason = Annotated[str, typer.Option("--reason", help="why: recorded with who asked")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask to confirm")]
Rate = Annotated[
    float, typer.Option(min=0.1, max=500, help="past 500 sagas, a job: sagas a second")
]


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
        rate: Rate = 20.0,
    ) -> None:
        _operate_many(action, ids or [], _filter(state, stuck, order, user), reason, yes, rate)

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
def replay(saga_id: str, as_json: JsonOption = False) -> None:
    """Re-run the saga's stored inputs through the current definition; exit 1 on a divergence."""
    report = _call("GET", f"/sagas/{saga_id}/replay")
    if as_json:
        _print_json(report)
    elif report["ok"]:
        _say(f"{saga_id}: {report['inputs']} inputs replayed, no divergence")
    else:
        rows = [
            [
                str(d["index"]),
                d["input"].get("type") or d["input"].get("kind", ""),
                json.dumps(d["expected"]),
                json.dumps(d["actual"]) if d["actual"] else (d["error"] or ""),
            ]
            for d in report["divergences"]
        ]
        _print_table(Table("#", "input", "recorded", "now"), rows)
    if not report["ok"]:
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
        async with SystemApi(load_settings()) as api:
            return await export_saga(api, saga_id)

    try:
        scenario = asyncio.run(read())
    except ExportError as error:
        console.print(str(error), style="red")
        raise typer.Exit(1) from None
    except httpx.TransportError as exc:
        console.print(f"a service is unreachable: {exc}", style="red")
        raise typer.Exit(2) from None
    text = dump_yaml(scenario)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")
