"""``oms saga …``: the saga ops API from a terminal, as tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from oms.config import load_settings
from shared.auth import mint_token

saga_app = typer.Typer(no_args_is_help=True, help="List, inspect, retry, abort and replay sagas.")
console = Console()


def _client() -> httpx.Client:
    settings = load_settings()
    token = mint_token(settings.jwt_key, sub="oms-cli", roles=["ops"], ttl_seconds=300)
    return httpx.Client(
        base_url=f"{settings.url_for('saga')}/api/v1",
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


@saga_app.command("list")
def list_sagas(
    state: Annotated[
        str | None, typer.Option(help="e.g. failed, refunding_payment; compensating: every undo")
    ] = None,
    stuck: Annotated[bool, typer.Option(help="only sagas past their deadline")] = False,
    limit: int = 50,
) -> None:
    params: dict[str, Any] = {"limit": limit}
    if state:
        params["state"] = state
    if stuck:
        params["stuck"] = "true"
    page = _call("GET", "/sagas", params=params)
    table = Table("saga", "state", "step", "v", "updated", "reason")
    for s in page["items"]:
        table.add_row(
            s["id"],
            s["state"],
            s["step"] or "",
            str(s["version"]),
            s["updatedAt"],
            s["failureReason"] or "",
        )
    console.print(table)


@saga_app.command("show")
def show(saga_id: str) -> None:
    s = _call("GET", f"/sagas/{saga_id}")
    console.print(f"[bold]{s['id']}[/bold] {s['state']} step={s['step']} version={s['version']}")
    table = Table("at", "kind", "detail")
    for h in s["history"]:
        table.add_row(h["at"], h["kind"], json.dumps(h["detail"], separators=(",", ":"))[:160])
    console.print(table)


@saga_app.command("retry")
def retry(saga_id: str, reason: Annotated[str, typer.Option()] = "retried from the CLI") -> None:
    s = _call("POST", f"/sagas/{saga_id}/retry", json={"reason": reason})
    console.print(f"{s['id']} → {s['state']}")


@saga_app.command("abort")
def abort(saga_id: str, reason: Annotated[str, typer.Option()] = "aborted from the CLI") -> None:
    s = _call("POST", f"/sagas/{saga_id}/abort", json={"reason": reason})
    console.print(f"{s['id']} → {s['state']}")


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
