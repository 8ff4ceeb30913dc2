"""Reading scenario files: YAML checked against :mod:`oms.scenario.model`, and every
name a step or expectation uses checked against what the file defines.

An error names the file, the line and the field (``steps[2].checkout.items``):
the YAML is composed into nodes, which keep their line, and each pydantic error
location is walked down those nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from oms.scenario.model import (
    EXPECTATION_KINDS,
    STEP_KINDS,
    UNKNOWN_KIND,
    CancelSpec,
    CheckoutSpec,
    Concurrently,
    PlaceOrderSpec,
    Scenario,
    body_of,
    kind_of,
)
from shared.messages import CATALOGUE

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    message: str


class ScenarioFileError(ValueError):
    """A scenario file that cannot run: every problem with its line and field."""

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(
            "\n".join(f"{path}:{p.line}: {p.field or '<file>'}: {p.message}" for p in problems)
        )


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario as loaded: its model and where it came from."""

    path: Path
    scenario: Scenario

    @property
    def name(self) -> str:
        return self.scenario.name or self.path.stem


def scenario_paths(directory: Path) -> list[Path]:
    """Every ``*.yaml`` / ``*.yml`` under ``directory``, sorted."""
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_file(path: Path) -> ScenarioFile:
    """Read and check one file; raises :class:`ScenarioFileError`."""
    return ScenarioFile(path, parse(path.read_text(), path))


def load_directory(directory: Path) -> list[ScenarioFile]:
    """Every scenario under ``directory``; every bad file's problems in one error."""
    loaded: list[ScenarioFile] = []
    errors: list[ScenarioFileError] = []
    for path in scenario_paths(directory):
        try:
            loaded.append(load_file(path))
        except ScenarioFileError as error:
            errors.append(error)
    if errors:
        raise ScenarioFilesError(errors)
    names = [f.name for f in loaded]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        first = next(f for f in loaded if f.name == duplicates[0])
        raise ScenarioFileError(
            first.path, [Problem(1, "name", f"scenario names must be unique: {duplicates}")]
        )
    return loaded


class ScenarioFilesError(ValueError):
    """Several files with problems."""

    def __init__(self, errors: Sequence[ScenarioFileError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in errors))


def parse(text: str, path: Path) -> Scenario:
    """``text`` (the content of ``path``) as a checked scenario."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioFileError(
            path, [Problem(line, "", f"not valid YAML: {exc.problem}")]
        ) from None
    if not isinstance(data, dict) or root is None:
        raise ScenarioFileError(path, [Problem(1, "", "a scenario file is a YAML mapping")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioFileError(
            path, [_problem(root, tuple(e["loc"]), e["type"], e["msg"]) for e in exc.errors()]
        ) from None
    problems = [_problem(root, loc, "reference", message) for loc, message in _references(scenario)]
    if problems:
        raise ScenarioFileError(path, problems)
    return scenario


def _problem(root: yaml.Node, loc: Loc, kind: str, message: str) -> Problem:
    node, line, path = _locate(root, loc)
    if kind == UNKNOWN_KIND:
        family = STEP_KINDS if "steps" in loc or "concurrently" in loc else EXPECTATION_KINDS
        what = "step" if family is STEP_KINDS else "expectation"
        keys = [k.value for k, _ in node.value] if isinstance(node, yaml.MappingNode) else []
        if len(keys) == 1:
            message = f"unknown {what} kind {keys[0]!r}; one of {', '.join(family)}"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return Problem(line, path, message)


def _locate(root: yaml.Node, loc: Loc) -> tuple[yaml.Node, int, str]:
    """The node ``loc`` points at (as far as the file has it), its line, and the
    field path as written (``steps[2].checkout.items``)."""
    node = root
    line = root.start_mark.line + 1
    path = ""
    previous: str | int | None = None
    for part in loc:
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
            if part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            path += f"[{part}]"
        elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is not None:
                key, node = found
                line = key.start_mark.line + 1
                path += f".{part}" if path else part
            elif part != previous:  # a union's tag repeats the key it was read from
                path += f".{part}" if path else part
        elif part != previous:
            path += f".{part}" if path else str(part)
        previous = part
    return node, line, path


# --- names used against names defined ---------------------------------------------------


def _references(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    """Every name a step or expectation uses that the file does not define (before it)."""
    products = set(scenario.setup.products)
    users = set(scenario.setup.users)
    orders: set[str] = set()
    requests: set[str] = set()
    messages: set[str] = set()

    def use(loc: Loc, kind: str, name: str | None, known: set[str]) -> Iterator[tuple[Loc, str]]:
        if name is not None and name not in known:
            defined = ", ".join(sorted(known)) or "none"
            yield loc, f"no {kind} named {name!r} (defined: {defined})"

    def walk(steps: Iterable[BaseModel], base: Loc) -> Iterator[tuple[Loc, str]]:
        for index, step in enumerate(steps):
            kind, spec = kind_of(step), body_of(step)
            loc: Loc = (*base, index, kind)
            if isinstance(step, Concurrently):
                yield from walk(step.concurrently, (*loc,))
                continue
            if isinstance(spec, CheckoutSpec | PlaceOrderSpec):
                yield from use((*loc, "user"), "user", spec.user, users)
                for product in spec.items:
                    yield from use((*loc, "items", product), "product", product, products)
                user = scenario.setup.users.get(spec.user)
                saved = user.payment_methods if user else {}
                if spec.payment_method not in saved and not spec.payment_method.startswith("pm_"):
                    yield (
                        (*loc, "payment_method"),
                        f"no payment method named {spec.payment_method!r} for {spec.user!r}",
                    )
                if isinstance(spec, CheckoutSpec) and spec.address and user is not None:
                    yield from use((*loc, "address"), "address", spec.address, set(user.addresses))
                if isinstance(spec, CheckoutSpec) and spec.via == "mobile" and spec.wait_seconds:
                    yield (*loc, "wait_seconds"), "BFF-Mobile's checkout does not wait"
                orders.add(spec.order)
                requests.add(spec.order)
                continue
            if isinstance(spec, CancelSpec) and spec.request:
                requests.add(spec.request)
            order = getattr(spec, "order", None)
            if kind == "repeat":
                yield from use((*loc, "request"), "request", spec.request, requests)
                if order:
                    orders.add(order)
                    requests.add(order)
            elif kind == "publish":
                if spec.name:
                    messages.add(spec.name)
                yield from use((*loc, "order"), "order", order, orders)
            else:
                yield from use((*loc, "order"), "order", order, orders)
            if kind == "crash" and spec.handling is not None:
                consumes = "event" if spec.component == "saga" else "command"
                if spec.component not in ("orders", "inventory", "payments", "saga"):
                    yield (*loc, "component"), f"{spec.component} handles no messages to crash on"
                elif CATALOGUE[spec.handling].kind != consumes:
                    yield (
                        (*loc, "handling"),
                        f"{spec.component} handles {consumes}s; {spec.handling!r} is not one",
                    )

    yield from walk(scenario.steps, ("steps",))
    for index, expectation in enumerate(scenario.expect):
        kind, spec = kind_of(expectation), body_of(expectation)
        loc = ("expect", index, kind)
        if kind in ("order", "saga", "money"):
            yield from use((*loc, "order"), "order", spec.order, orders)
        if kind == "order" and spec.same_as:
            yield from use((*loc, "same_as"), "order", spec.same_as, orders)
        if kind == "stock":
            yield from use((*loc, "product"), "product", spec.product, products)
        if kind == "http":
            yield from use((*loc, "request"), "request", spec.request, requests)
        if kind == "outcomes":
            for number, name in enumerate(spec.orders):
                yield from use((*loc, "orders", number), "order", name, orders)
        if kind == "orders":
            yield from use((*loc, "user"), "user", spec.user, users)
        if kind == "dead_letter":
            yield from use((*loc, "message"), "message", spec.message, messages)


def dump_yaml(data: dict[str, Any]) -> str:
    """A scenario as YAML, keys in the order given (for ``oms saga export``)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
