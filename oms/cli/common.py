"""What every ``oms`` command shares: the console, the settings, failures in brief."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer

from oms.config import load_settings
from oms.terminal import text_console
from shared.logging import configure_logging
from shared.settings import Settings
from shared.startup import describe

console = text_console()


@dataclass
class Options:
    debug: bool = False
    """``oms --debug``: failures show their traceback."""


options = Options()
"""The root options, set by ``oms``'s callback before any command runs."""


@contextmanager
def failures_in_brief() -> Iterator[None]:
    """A failure to start (or to migrate) as one line and a hint, exit code 1;
    the whole traceback with ``--debug``."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:
        if options.debug:
            raise
        typer.echo(f"error: {str(error) or describe(error)}", err=True)
        typer.echo("(run with oms --debug ... for the traceback)", err=True)
        raise typer.Exit(1) from None


def logged_settings() -> Settings:
    """The settings, with logging configured as they say."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings
