"""Every expectation kind a scenario file may use, in one registry.

As with the steps (:mod:`oms.scenario.steps`, whose docstring shows how to add a
kind): a module holds the kind's model (an
:class:`~oms.scenario.kinds.ExpectationKind` with one field, named by the kind)
and its ``check``, which answers None when the expectation holds and a
:class:`~oms.scenario.results.Difference` when it does not (it is asked again
until it holds or the scenario's time is up); one line in :data:`EXPECTATIONS`
registers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from oms.scenario.expectations.audit import ExpectAudit
from oms.scenario.expectations.fulfilment import ExpectFirstWins
from oms.scenario.expectations.goods import ExpectMoney, ExpectStock
from oms.scenario.expectations.messages import ExpectDeadLetter, ExpectHttp
from oms.scenario.expectations.orders import ExpectOrder, ExpectOrderCount, ExpectOutcomes
from oms.scenario.expectations.returns import ExpectReturn
from oms.scenario.expectations.saga import ExpectSaga
from oms.scenario.kinds import ExpectationKind, kinds_of, union_of

EXPECTATIONS: tuple[type[ExpectationKind], ...] = (
    ExpectOrder,
    ExpectSaga,
    ExpectStock,
    ExpectMoney,
    ExpectHttp,
    ExpectOutcomes,
    ExpectFirstWins,
    ExpectOrderCount,
    ExpectDeadLetter,
    ExpectAudit,
    ExpectReturn,
)
"""The registry: every expectation kind, in the order errors list them."""
EXPECTATION_KINDS = kinds_of(EXPECTATIONS)

if TYPE_CHECKING:
    Expectation: TypeAlias = ExpectationKind
else:
    Expectation = union_of(EXPECTATIONS, "an expectation")
    """An expectation as pydantic reads it: one of :data:`EXPECTATIONS`, by its one key."""

__all__ = ["EXPECTATIONS", "EXPECTATION_KINDS", "Expectation"]
