"""Every domain error a service's use cases raise has an answer at each edge that
can meet it: a problem over HTTP (the service's ``PROBLEMS``), a dead letter for a
command (its handlers' ``DEAD_LETTERS``)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from shared.errors import DomainError

SERVICES = ("orders", "inventory", "payments", "users")


def _errors(service: str) -> list[type[Exception]]:
    module = importlib.import_module(f"services.{service}.errors")
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)]
    roots = {Exception, DomainError}
    base = next(c for c in classes if c.__module__ == module.__name__ and roots & {*c.__bases__})
    return [c for c in classes if issubclass(c, base) and c is not base]


@pytest.mark.parametrize("service", SERVICES)
def test_every_domain_error_of_a_service_is_answered_over_http_or_dead_lettered(
    service: str,
) -> None:
    problems = importlib.import_module(f"services.{service}.api").PROBLEMS
    try:
        dead_letters = importlib.import_module(f"services.{service}.handlers").DEAD_LETTERS
    except ModuleNotFoundError:  # users handles no commands
        dead_letters = ()
    errors = _errors(service)
    assert errors, f"services.{service}.errors defines no errors"
    unanswered = [e.__name__ for e in errors if e not in problems and e not in dead_letters]
    assert unanswered == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_maps_only_its_own_domain_errors(service: str) -> None:
    problems = importlib.import_module(f"services.{service}.api").PROBLEMS
    assert set(problems) <= set(_errors(service))
