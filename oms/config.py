"""Settings for the ``oms`` commands: a configuration mistake is one line, not a traceback."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from shared.settings import Settings


def load_settings() -> Settings:
    """The settings from the environment, or exit 2 with what is wrong on one line of stderr."""
    try:
        return Settings()
    except ValidationError as exc:
        typer.echo(f"oms: {describe(exc)}", err=True)
        raise typer.Exit(2) from None


def describe(exc: ValidationError) -> str:
    """Each error of ``exc`` as the variable it concerns and why, joined on one line."""
    reasons = []
    for error in exc.errors(include_url=False, include_input=False):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ValueError):  # a validator's own sentence names its variable
            reasons.append(str(cause))
        else:
            field = "_".join(str(part) for part in error["loc"]).upper()
            reasons.append(f"OMS_{field}: {error['msg']}")
    return "; ".join(reasons)
