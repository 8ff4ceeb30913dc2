"""A QA scenario file as pydantic models: the schema every YAML file is checked against.

A scenario has a set-up, steps and expectations.  Every step and every
expectation is a mapping with exactly one key, its kind::

    name: declined-card
    setup:
      products: {kettle: {price: 1250, stock: 5}}
      users: {ada: {payment_methods: {card: pm_card_declined}}}
    steps:
      - checkout: {order: o1, user: ada, items: {kettle: 2}, payment_method: card}
    expect:
      - order: {order: o1, status: cancelled, reason: payment declined}
      - stock: {product: kettle, available: 5}

Products, users, orders, requests and published messages are named in the file
(``kettle``, ``ada``, ``o1``); the runner creates real ones with unique skus and
emails, so scenarios can run side by side on one system.  Unknown keys are
refused everywhere (``extra="forbid"``), so a misspelt field or an unknown kind
is an error before anything runs.

The kinds are in :mod:`oms.scenario.steps` and :mod:`oms.scenario.expectations`
(one module each, one registry each); the set-up in :mod:`oms.scenario.spec`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field, TypeAdapter, ValidationError

from oms.scenario.expectations import Expectation
from oms.scenario.kinds import Kind, Names, Reference, StepKind
from oms.scenario.spec import Name, Setup, Spec
from oms.scenario.steps import Step


class Scenario(Spec):
    name: Name | None = None
    """Defaults to the file's name without its extension."""
    description: str = ""
    pending: str | None = None
    """Why the scenario cannot pass yet: it is reported skipped, with this reason."""
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    """The longest any wait of the scenario may take, settling at the end included."""
    setup: Setup = Setup()
    steps: list[Step] = Field(min_length=1)
    expect: list[Expectation] = Field(min_length=1)

    def every_step(self) -> Iterator[StepKind]:
        """Every step, those run concurrently included."""
        for step in self.steps:
            yield from step.parts()

    def references(self) -> Iterator[Reference]:
        """Every name a step or expectation uses that the file does not define (before it)."""
        names = Names(self.setup)
        for index, step in enumerate(self.steps):
            yield from step.references(names, ("steps", index, step.kind()))
        for index, expectation in enumerate(self.expect):
            yield from expectation.references(names, ("expect", index, expectation.kind()))


_PARTS: dict[str, TypeAdapter[Kind]] = {
    "steps": TypeAdapter(Step),
    "expect": TypeAdapter(Expectation),
}


def references_in_parts(data: Mapping[str, Any]) -> Iterator[Reference]:
    """:meth:`Scenario.references` of a file that is not a valid scenario as a whole,
    so its misspelt names are reported with its other errors: the set-up and each
    step and expectation that are valid on their own are checked.  Past a step
    that is not, the orders, requests and messages it may have defined are unknown,
    and their uses are let be."""
    try:
        setup = Setup.model_validate(data.get("setup", {}))
    except ValidationError:
        return
    names = Names(setup)
    for key, adapter in _PARTS.items():
        parts = data.get(key)
        for index, raw in enumerate(parts if isinstance(parts, list) else []):
            try:
                part = adapter.validate_python(raw)
            except ValidationError:
                names.unsure = True
                continue
            yield from part.references(names, (key, index, part.kind()))
