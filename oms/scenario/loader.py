"""Reading scenario files: YAML checked against :mod:`oms.scenario.model`, and every
name a step or expectation uses checked against what the file defines.

An error names the file, the line and the field (``steps[2].checkout.items``):
the YAML is composed into nodes, which keep their line, and each pydantic error
location is walked down those nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError

from oms.scenario.expectations import EXPECTATION_KINDS
from oms.scenario.kinds import UNKNOWN_KIND, Loc, did_you_mean
from oms.scenario.model import Scenario, references_in_parts
from oms.scenario.steps import STEP_KINDS


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


SCENARIO_SUFFIXES = (".yaml", ".yml")


def scenario_paths(directory: Path) -> list[Path]:
    """Every scenario file under ``directory``, sorted: a ``*.yaml`` / ``*.yml`` outside
    hidden folders (``.venv``, ``.git``) that is a mapping using at least one of a
    scenario's fields, so a checkout's ``compose.yaml`` or CI files are not read."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.suffix in SCENARIO_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts[:-1])
        and _looks_like_a_scenario(p)
    )


def _looks_like_a_scenario(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return True  # reported as the scenario file it may have meant to be
    return isinstance(data, dict) and bool(Scenario.model_fields.keys() & data.keys())


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
        # Every problem at once: the names used but never defined as well.
        invalid = [_problem(root, tuple(e["loc"]), e["type"], e["msg"]) for e in exc.errors()]
        unknown = [_problem(root, loc, "reference", m) for loc, m in references_in_parts(data)]
        raise ScenarioFileError(path, sorted([*invalid, *unknown], key=lambda p: p.line)) from None
    problems = [_problem(root, loc, "reference", message) for loc, message in scenario.references()]
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
            message = (
                f"unknown {what} kind {keys[0]!r}{did_you_mean(keys[0], family)}; "
                f"one of {', '.join(family)}"
            )
    elif kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        message = f"unknown field {loc[-1]!r}{did_you_mean(loc[-1], fields_at(loc[:-1]))}"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return Problem(line, path, message)


def fields_at(loc: Loc) -> list[str]:
    """The fields of the part of a scenario at ``loc`` (a pydantic error location),
    or none when ``loc`` is no model's."""
    shape: Any = Scenario
    for part in loc:
        shape = _inside(shape, part)
    model = _bare(shape)
    return list(_fields(model)) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the names a file writes them with (their alias, if any)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _bare(shape: Any) -> Any:
    """``shape`` without ``Annotated`` and without ``| None``."""
    while True:
        if get_origin(shape) is Annotated:
            shape = get_args(shape)[0]
        elif get_origin(shape) in (Union, UnionType) and type(None) in get_args(shape):
            [shape] = [a for a in get_args(shape) if a is not type(None)] or [None]
        else:
            return shape


def _inside(shape: Any, part: str | int) -> Any:
    """The type at ``part`` of ``shape``: a list's item, a mapping's value, a model's
    field, or the kind a union of kinds is tagged with."""
    shape = _bare(shape)
    origin = get_origin(shape)
    if origin in (Union, UnionType):
        for member in get_args(shape):
            tags = [m for m in get_args(member)[1:] if isinstance(m, Tag)]
            if tags and tags[0].tag == part:
                return get_args(member)[0]
        return None
    if origin is list and isinstance(part, int):
        return get_args(shape)[0]
    if origin is dict and isinstance(part, str):
        return get_args(shape)[1]
    if isinstance(shape, type) and issubclass(shape, BaseModel) and isinstance(part, str):
        field = _fields(shape).get(part)
        return field.annotation if field is not None else None
    return None


def _locate(root: yaml.Node, loc: Loc) -> tuple[yaml.Node, int, str]:
    """The node ``loc`` points at (as far as the file has it), its line, and the
    field path as written (``steps[2].checkout.items``)."""
    node = root
    line = root.start_mark.line + 1
    path = ""
    previous: str | int | None = None
    for index, part in enumerate(loc):
        if isinstance(previous, int) and loc[index + 1 : index + 2] == (part,):
            # A step's or expectation's union tag, before the kind's own key of the
            # same name: skipped, so ``order: {order: o1}`` reads expect[1].order.order
            # only for the field inside.
            previous = part
            continue
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


def dump_yaml(data: dict[str, Any]) -> str:
    """A scenario as YAML, keys in the order given (for ``oms saga export``)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
