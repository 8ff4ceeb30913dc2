"""``oms saga jobs``: bulk retries and aborts run as jobs by the saga (their
progress, a cancel); and a bulk action beyond what one request does offered as
a job, after saying how many sagas it selects."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from oms.cli.saga import JsonOption, _call, _print_json, _print_table, _say, saga_app


def offer_job(
    action: str, criteria: dict[str, Any], plan: dict[str, Any], reason: str, rate: float, yes: bool
) -> None:
    """Ask to run ``action`` on the ``plan``'s sagas as a job at ``rate`` a second;
    start it when confirmed (or ``yes``) and say how to follow it."""
    count = plan["selects"]
    question = (
        f"{action} {count:,} sagas matching {plan['described']}? more than one request "
        f"does ({plan['mostAtOnce']}): run as a job, {rate:g} a second"
    )
    if not yes and not typer.confirm(question, default=False):
        _say("not confirmed: no job started")
        raise typer.Exit(1)
    job = _call(
        "POST",
        "/saga-jobs",
        json={"action": action, "filter": criteria, "reason": reason, "rate": rate},
    )
    _say(f"job {job['id']} started: {action} {job['selected']:,} sagas; follow with oms saga jobs")


@saga_app.command("jobs")
def jobs(
    cancel: Annotated[str | None, typer.Option(help="cancel this job (its id)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Bulk jobs, newest first: what, by whom, why, how far; --cancel ID stops one."""
    if cancel is not None:
        job = _call("POST", f"/saga-jobs/{cancel}/cancel")
        _say(f"job {job['id']} cancelled after {job['done']:,} of {job['selected']:,} sagas")
        return
    listed = _call("GET", "/saga-jobs")
    if as_json:
        _print_json(listed)
        return
    rows = [
        [
            j["id"],
            j["action"],
            j["described"],
            j["status"],
            f"{j['done']:,}/{j['selected']:,}",
            f"{j['succeeded']:,}",
            f"{j['rate']:g}/s",
            j["actor"],
            j["reason"],
        ]
        for j in listed
    ]
    headings = ("job", "action", "sagas", "status", "done", "ok", "rate", "by", "why")
    _print_table(Table(*headings), rows)
