"""``oms scenario …``: run QA scenario files against a running system."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from oms.cli.common import console
from oms.scenario.client import SystemApi
from oms.scenario.control import BrokerControl, CommandControl, Control, Controls
from oms.scenario.kinds import did_you_mean
from oms.scenario.loader import (
    SCENARIO_SUFFIXES,
    ScenarioFile,
    ScenarioFileError,
    ScenarioFilesError,
    load_directory,
    load_file,
)
from oms.scenario.report import print_results, write_junit
from oms.scenario.results import ScenarioResult
from oms.scenario.schedule import exclusive, needs, run_scenarios, skip_reason
from shared.settings import Settings

scenario_app = typer.Typer(no_args_is_help=True, help="QA scenario files: list and run them.")
DEFAULT_DIR = Path("tests/scenarios")

DirOption = Annotated[Path, typer.Option("--dir", help="where the scenario files are")]


def _load(directory: Path, names: list[str] | None) -> list[ScenarioFile]:
    """The scenarios ``names`` asks for (a name in ``directory``, or a file's path), or
    every one in ``directory``."""
    paths = [n for n in names or () if n.endswith(SCENARIO_SUFFIXES) or Path(n).is_file()]
    wanted = [n for n in names or () if n not in paths]
    try:
        files = [load_file(Path(p)) for p in paths]
        if wanted or not names:
            files += load_directory(directory)
    except (ScenarioFileError, ScenarioFilesError) as error:
        console.print(error, style="red", highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    except OSError as error:
        console.print(f"cannot read {error.filename}: {error.strerror}", style="red", markup=False)
        raise typer.Exit(2) from None
    if names:
        known = [f.name for f in files]
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            for name in unknown:
                console.print(
                    f"no scenario named {name!r} in {directory}{did_you_mean(name, known)}",
                    style="red",
                    markup=False,
                )
            raise typer.Exit(2)
        files = [f for f in files if f.name in wanted or str(f.path) in paths]
    return files


@scenario_app.command("list")
def list_scenarios(directory: DirOption = DEFAULT_DIR) -> None:
    """Every scenario file, with what it needs from the system."""
    settings = Settings()
    files = _load(directory, None)
    faults, timing = asyncio.run(_running_system(settings))
    table = Table("scenario", "steps", "checks", "needs", "runs here", "description")
    for file in files:
        scenario = file.scenario
        wanted = sorted(needs(scenario)) + (["exclusive"] if exclusive(scenario) else [])
        control = _control(settings, None, None, None)
        reason = skip_reason(scenario, settings, control, faults=faults, timing=timing)
        table.add_row(
            file.name,
            str(len(scenario.steps)),
            str(len(scenario.expect)),
            ", ".join(wanted),
            "yes" if reason is None else Text(reason, style="yellow"),
            scenario.description.strip().splitlines()[0] if scenario.description else "",
        )
    console.print(table)
    if faults is None:
        console.print("the running system did not say whether it takes faults", style="yellow")


async def _running_system(settings: Settings) -> tuple[bool | None, dict[str, float] | None]:
    """Whether the running system takes faults, and its saga timing (None: not told)."""
    async with SystemApi(settings, timeout=3) as api:
        return await api.faults_enabled(), await api.timing()


def _control(
    settings: Settings,
    management_url: str | None,
    crash_command: str | None,
    restart_command: str | None,
) -> Control | None:
    parts: list[Control] = []
    if crash_command or restart_command:
        parts.append(CommandControl(crash=crash_command, restart=restart_command))
    if settings.broker_url:
        parts.append(BrokerControl(settings.broker_url, management_url))
    return Controls(parts) if parts else None


@scenario_app.command("run")
def run(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="scenario names in --dir, or scenario files' paths (default: all)"),
    ] = None,
    directory: DirOption = DEFAULT_DIR,
    junit: Annotated[Path | None, typer.Option(help="write a JUnit XML report here")] = None,
    parallel: Annotated[int, typer.Option(min=1, help="scenarios run at once")] = 4,
    rabbitmq_management: Annotated[
        str | None,
        typer.Option(help="RabbitMQ management API URL, to cut the broker connections"),
    ] = None,
    crash_command: Annotated[
        str | None, typer.Option(help="shell command killing {component}, e.g. docker compose kill")
    ] = None,
    restart_command: Annotated[
        str | None, typer.Option(help="shell command starting {component} again")
    ] = None,
) -> None:
    """Run scenarios against the running system (URLs from the usual OMS_ settings);
    exit 1 when any fails."""
    settings = Settings()
    files = _load(directory, names)
    control = _control(settings, rabbitmq_management, crash_command, restart_command)
    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("scenarios", total=len(files))

        def done(result: ScenarioResult) -> None:
            progress.advance(task)
            progress.update(task, description=f"{result.name}: {result.outcome}")

        results = asyncio.run(
            run_scenarios(files, settings, control=control, parallel=parallel, on_done=done)
        )
    print_results(results, console)
    if junit is not None:
        write_junit(results, junit)
        console.print(f"wrote {junit}")
    if any(r.outcome in ("failed", "error") for r in results):
        raise typer.Exit(1)
