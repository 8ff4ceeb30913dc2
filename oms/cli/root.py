"""OMS: run, migrate, inspect and test the order-management system."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from oms.audit import STALE_AFTER_SECONDS
from oms.cli.bench import bench_app
from oms.cli.cluster import cluster_app
from oms.cli.common import console, failures_in_brief, logged_settings, options
from oms.cli.jobs import jobs  # noqa: F401  (adds `oms saga jobs`)
from oms.cli.prune import prune_sagas  # noqa: F401  (adds `oms saga prune`)
from oms.cli.saga import saga_app
from oms.cli.scenario import scenario_app
from oms.cli.topology import topology_app
from oms.components import COMPONENTS, Component, available_components
from oms.config import load_settings
from shared.auth import mint_token
from shared.settings import Settings

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_show_locals=False)
app.add_typer(topology_app, name="topology")
app.add_typer(saga_app, name="saga")
app.add_typer(bench_app, name="bench")
app.add_typer(scenario_app, name="scenario")
app.add_typer(cluster_app, name="cluster")


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="on failure, show the full traceback")
    ] = False,
) -> None:
    """OMS: run, migrate, inspect and test the order-management system."""
    options.debug = debug


def _print_urls(components: list[Component], settings: Settings) -> None:
    table = Table(title="OMS is running", show_edge=False)
    table.add_column("component")
    table.add_column("url")
    table.add_column("docs")
    for component in components:
        url = settings.url_for(component.name)
        table.add_row(component.name, url, f"{url}/docs")
    console.print(table)
    if any(c.name == "saga" for c in components):
        console.print(
            f"ops dashboard: {settings.url_for('saga')}/ops (token: oms token --sub you --role ops)"
        )
    mode = "embedded (in-process broker, SQLite)" if settings.embedded else "RabbitMQ + database"
    console.print(f"mode: {mode}; data: {settings.data_dir.resolve()}; Ctrl-C stops everything")


@app.command()
def up(
    seed: Annotated[
        str | None, typer.Option(help="'demo' adds demo products and a demo user")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="run just these components")
    ] = None,
) -> None:
    """Run every component in one process (embedded by default) and print their URLs."""
    from oms.serving import exit_at_once, run_components

    settings = logged_settings()
    components = available_components()
    if only:
        unknown = sorted(set(only) - set(COMPONENTS))
        if unknown:
            raise typer.BadParameter(f"unknown components: {', '.join(unknown)}")
        components = [c for c in components if c.name in only]

    async def started() -> None:
        if seed == "demo":
            from oms.seed import seed_demo

            await seed_demo(settings, console)
        _print_urls(components, settings)

    with failures_in_brief():
        run_components(components, settings, on_started=started)
    exit_at_once()


@app.command()
def run(
    component: Annotated[str, typer.Argument(help=", ".join(COMPONENTS))],
) -> None:
    """Run one component as its own process."""
    from oms.serving import exit_at_once, run_components

    if component not in COMPONENTS:
        raise typer.BadParameter(f"unknown component {component!r}; one of {', '.join(COMPONENTS)}")
    chosen = COMPONENTS[component]
    if not chosen.available():
        raise typer.BadParameter(f"component {component!r} is not installed")
    settings = logged_settings()

    async def started() -> None:
        console.print(f"{component} on {settings.url_for(component)}")

    with failures_in_brief():
        run_components([chosen], settings, on_started=started)
    exit_at_once()


@app.command()
def migrate() -> None:
    """Apply every service's schema migrations."""
    from oms.migrate import migrate_all

    settings = logged_settings()
    with failures_in_brief():
        migrated = asyncio.run(migrate_all(settings))
    for name in migrated:
        console.print(f"migrated {name}")


@app.command()
def openapi(
    folder: Annotated[
        Path, typer.Argument(help="where to write one JSON file per component")
    ] = Path("docs/openapi"),
) -> None:
    """Write every component's OpenAPI document (compared with the code by the tests)."""
    from oms.openapi import write_documents

    for path in write_documents(folder):
        typer.echo(f"wrote {path}")


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="the subject (a user id, or an ops name)")],
    role: Annotated[list[str] | None, typer.Option(help="repeatable; e.g. ops")] = None,
    ttl: Annotated[int, typer.Option(help="seconds until it expires")] = 3600,
) -> None:
    """Mint a JWT signed with OMS_JWT_SECRET (the embedded default when unset)."""
    settings = load_settings()
    typer.echo(mint_token(settings.jwt_key, sub=sub, roles=role or ["customer"], ttl_seconds=ttl))


@app.command()
def diagrams(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("diagrams"),
) -> None:
    """Regenerate each saga definition's state diagram (Mermaid) from its table."""
    from saga.diagram import write_saga_diagrams

    for path in write_saga_diagrams(output):
        console.print(f"wrote {path}")


@app.command()
def audit(
    strict: Annotated[
        bool, typer.Option(help="a saga still in flight counts as a violation")
    ] = False,
    stale_after: Annotated[
        float,
        typer.Option(
            min=0, help="seconds a saga may stay not at rest, or an event parked, before it counts"
        ),
    ] = STALE_AFTER_SECONDS,
) -> None:
    """Check the saga invariants across the services' own APIs.

    Exits 1 when an invariant is violated, 2 when a service answers an error or
    cannot be reached (the audit then cannot tell)."""
    from oms.audit import print_report, run_audit
    from oms.audit_api import AuditError

    try:
        report = asyncio.run(run_audit(load_settings(), stale_after=stale_after))
    except AuditError as exc:
        typer.echo(f"oms audit: {exc}", err=True)
        raise typer.Exit(2) from None
    print_report(report, console)
    if not report.clean(strict=strict):
        raise typer.Exit(1)
