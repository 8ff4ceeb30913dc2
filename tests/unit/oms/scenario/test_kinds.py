"""The kinds of steps and expectations: one registry each, from which the union a
file is read with and the kinds its errors name are derived."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import TypeAdapter, ValidationError

from oms.scenario.expectations import EXPECTATION_KINDS, EXPECTATIONS
from oms.scenario.kinds import UNKNOWN_KIND, ExpectationKind, StepKind, kinds_of, union_of
from oms.scenario.loader import ScenarioFileError, load_file
from oms.scenario.run import ScenarioRun
from oms.scenario.spec import Spec
from oms.scenario.steps import STEP_KINDS, STEPS
from oms.scenario.steps.checkout import Checkout
from tests.support.scenarios import GOOD, write


class NoteSpec(Spec):
    text: str


class Note(StepKind):
    """A kind added as the steps' docstring says: a model whose one field names it."""

    note: NoteSpec
    changes_system: ClassVar[bool] = True

    async def run(self, run: ScenarioRun) -> None:
        raise NotImplementedError


def _written(kind: type[StepKind] | type[ExpectationKind]) -> str:
    """The name a file writes a kind's one field with: its alias, else its name."""
    name, info = next(iter(kind.model_fields.items()))
    return info.alias or name


def test_each_registered_kind_is_named_by_its_one_field_in_registry_order() -> None:
    assert list(STEP_KINDS) == [_written(kind) for kind in STEPS]
    assert list(EXPECTATION_KINDS) == [_written(kind) for kind in EXPECTATIONS]
    # A kind named by a Python keyword is a field with that alias.
    assert "return" in STEP_KINDS
    assert "return" in EXPECTATION_KINDS
    assert list(STEP_KINDS)[:3] == ["checkout", "place_order", "cancel"]
    assert "concurrently" in STEP_KINDS
    assert list(EXPECTATION_KINDS)[:2] == ["order", "saga"]


def test_an_unknown_kind_is_refused_naming_every_registered_kind(tmp_path: Path) -> None:
    text = GOOD.replace("  - checkout:", "  - teleport: {order: o1}\n  - checkout:")
    with pytest.raises(ScenarioFileError) as caught:
        load_file(write(tmp_path, text))
    [problem] = caught.value.problems
    assert problem.message == f"unknown step kind 'teleport'; one of {', '.join(STEP_KINDS)}"


def test_a_kind_added_to_a_registry_is_read_by_its_name_and_others_are_refused() -> None:
    steps = TypeAdapter(list[union_of((Checkout, Note), "a step")])

    [note] = steps.validate_python([{"note": {"text": "hello"}}])

    assert isinstance(note, Note)
    assert (note.kind(), note.body, note.needs()) == ("note", NoteSpec(text="hello"), set())
    with pytest.raises(ValidationError) as caught:
        steps.validate_python([{"wait": {"order": "o1", "state": "completed"}}])
    [error] = caught.value.errors()
    assert error["type"] == UNKNOWN_KIND
    assert error["msg"] == "a step is a mapping with one key, its kind: checkout, note"
    with pytest.raises(ValidationError, match="Extra inputs"):
        steps.validate_python([{"note": {"text": "hello", "colour": "red"}}])


def test_two_kinds_of_one_name_are_refused() -> None:
    class AnotherNote(Note):
        pass

    with pytest.raises(AssertionError, match="two kinds share a name"):
        kinds_of((Note, AnotherNote))
