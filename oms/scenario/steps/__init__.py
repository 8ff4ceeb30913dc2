"""Every step kind a scenario file may use, in one registry.

Each kind is a module of this package: its model (a :class:`~oms.scenario.kinds.StepKind`
with one field, named by the kind, holding the kind's options) and what it does
(its ``run``), the names it uses and defines (``references``), the control it
needs (``needs``) and whether it changes the system for everyone
(``changes_system``).  :data:`STEPS` lists the kinds; the union a step is read as
(:data:`Step`) and the kinds named in errors (:data:`STEP_KINDS`) come from it.

Adding a step kind, e.g. ``crowd``:

1. a module ``oms/scenario/steps/crowd.py``::

       class CrowdSpec(Spec):
           component: Component
           status: int = 503

       class Crowd(StepKind):
           crowd: CrowdSpec            # the field's name is the kind's name
           changes_system: ClassVar[bool] = True  # if it changes the system for everyone

           async def run(self, run: ScenarioRun) -> None:
               spec = self.crowd
               ...  # act through run.api / run.control; raise StepFailed on a refusal

   (a field naming an order, a user, a product, a request, a message or a return
   is typed :data:`~oms.scenario.spec.OrderName` and the like, and checked with no
   code of its own; a kind named by a Python keyword, ``return``, is a field
   ``return_`` with that alias; ``references`` when it gives names or checks more; ``needs`` when it
   needs a :class:`~oms.scenario.control.Control` capability);
2. one line in :data:`STEPS` below.

The YAML is then ``- crowd: {component: payments, status: 503}``; a file
using it is checked field by field before anything runs.  Expectation kinds are
added the same way in :mod:`oms.scenario.expectations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from oms.scenario.kinds import StepKind, kinds_of, union_of
from oms.scenario.steps.broker import CutBroker, Publish
from oms.scenario.steps.checkout import Checkout, PlaceOrder
from oms.scenario.steps.concurrently import Concurrently
from oms.scenario.steps.faults import ClearFaults, Fault
from oms.scenario.steps.fulfilment import Deliver, Ship
from oms.scenario.steps.http import HttpFault, OrderPage
from oms.scenario.steps.operator import Abort, Retry
from oms.scenario.steps.processes import Crash, Restart
from oms.scenario.steps.requests import Cancel, Repeat
from oms.scenario.steps.returns import Receive, Return, WaitReturn
from oms.scenario.steps.wait import Wait

STEPS: tuple[type[StepKind], ...] = (
    Checkout,
    PlaceOrder,
    Cancel,
    Ship,
    Deliver,
    Return,
    Receive,
    Wait,
    WaitReturn,
    Repeat,
    Crash,
    Restart,
    CutBroker,
    Publish,
    Fault,
    HttpFault,
    ClearFaults,
    OrderPage,
    Retry,
    Abort,
    Concurrently,
)
"""The registry: every step kind, in the order errors list them."""
STEP_KINDS = kinds_of(STEPS)

if TYPE_CHECKING:
    Step: TypeAlias = StepKind
else:
    Step = union_of(STEPS, "a step")
    """A step as pydantic reads it: one of :data:`STEPS`, by its one key."""

Concurrently.model_rebuild(_types_namespace={"Step": Step})

__all__ = ["STEPS", "STEP_KINDS", "Step"]
