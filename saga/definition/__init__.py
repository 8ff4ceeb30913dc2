"""The order saga as a pure state machine, in the "Decider" style (docs/design.md).

:meth:`OrderSaga.react` maps ``(saga state, input)`` to a :class:`Decision`: the new
state, the commands to send and the history entries to store.  It does no I/O,
reads no clock and draws no random numbers; time arrives as an input
(:class:`DeadlineFired`), and so do operators (:class:`OperatorRetry`,
:class:`OperatorAbort`).  The runtime loads a saga, calls ``react``, and stores the
decision in one transaction.  Because the function is pure, a stored history can
be replayed through it (:func:`replay`) and the table it dispatches on can be
drawn (:data:`TRANSITIONS`, ``saga.diagram``).

The saga runs three steps, each with a compensation, and has a status while
each runs (``steps.py``)::

    reserving_inventory  inventory.reserve -> inventory.reserved   releasing_inventory  inventory.release
    charging_payment     payment.charge    -> payment.completed    refunding_payment    payment.refund
    confirming_order     order.confirm     -> order.confirmed      cancelling_order     order.cancel

Whenever it has to give up (stock insufficient, the reservation's catalogue
prices differing from the order's, payment declined, a step not answering after
its retries, the customer cancelling, an operator aborting) it undoes, newest
first, every step that happened or *may* have happened, and finally cancels the
order (``order.cancel`` is always the last compensation: the order exists from
the start and must end cancelled).  What is left to undo is derived from the
steps each time (``progress.undo_plan``), never stored.  Which row of the table
applies is in ``table.py``, what each does in ``actions.py``.

Modules: ``statuses``, ``config``, ``inputs`` (and their JSON), ``state`` (and its
codec, which also reads version 3), ``steps`` (the catalogue), ``progress`` (what
follows from what the steps did: the proofs of undo, the undo plan, the statuses
ahead, the commands), ``decisions``, ``reaction``, ``guards``, ``actions``,
``table``, ``react`` (:class:`OrderSaga`), ``replay``.

Participants are idempotent per order, so a command can always be resent and a
compensation for something that never happened is a harmless no-op.  Replies
carry no reference to the command they answer, so the saga reasons about what it
*knows* per step (:class:`StepState`): a success reply that arrives after the
compensation for its step went out, or after the saga finished, gets that
compensation sent again so no stock or money leaks.  Which acknowledgement
proves the step undone is settled by counting (see :class:`StepRecord`), since
an answer to an older compensation may arrive after a newer one was sent.

Exceptions::

    SagaError
    ├── SagaNotStarted          an input for a saga that does not exist yet
    ├── InvalidInput            a stored input that cannot be decoded
    ├── InvalidSagaState        a stored state that cannot be decoded
    └── UndeclaredTransition    an action moved to a status its row does not declare
"""

from saga.definition.config import SagaConfig
from saga.definition.decisions import Decision, HistoryEntry, HistoryKind
from saga.definition.errors import (
    InvalidInput,
    InvalidSagaState,
    SagaError,
    SagaNotStarted,
    UndeclaredTransition,
)
from saga.definition.inputs import (
    DEADLINE_FIRED,
    JSON,
    OPERATOR_ABORT,
    OPERATOR_RETRY,
    DeadlineFired,
    Input,
    OperatorAbort,
    OperatorRetry,
    input_from_json,
    input_name,
    input_to_json,
)
from saga.definition.progress import statuses_ahead, undo_plan
from saga.definition.react import OrderSaga
from saga.definition.replay import Divergence, RecordedDecision, ReplayReport, replay
from saga.definition.state import (
    OrderData,
    OrderLine,
    SagaState,
    StepRecord,
    Steps,
    Timer,
)
from saga.definition.statuses import (
    COMPENSATING,
    TERMINAL,
    UNDOING,
    SagaStatus,
    StateFilter,
    StepName,
    StepState,
    statuses_matching,
)
from saga.definition.steps import STEPS, Step
from saga.definition.table import RULES, START, TRANSITIONS, Rule, Transition, transitions_of

__all__ = [
    "COMPENSATING",
    "DEADLINE_FIRED",
    "JSON",
    "OPERATOR_ABORT",
    "OPERATOR_RETRY",
    "RULES",
    "START",
    "STEPS",
    "TERMINAL",
    "TRANSITIONS",
    "UNDOING",
    "DeadlineFired",
    "Decision",
    "Divergence",
    "HistoryEntry",
    "HistoryKind",
    "Input",
    "InvalidInput",
    "InvalidSagaState",
    "OperatorAbort",
    "OperatorRetry",
    "OrderData",
    "OrderLine",
    "OrderSaga",
    "RecordedDecision",
    "ReplayReport",
    "Rule",
    "SagaConfig",
    "SagaError",
    "SagaNotStarted",
    "SagaState",
    "SagaStatus",
    "StateFilter",
    "Step",
    "StepName",
    "StepRecord",
    "StepState",
    "Steps",
    "Timer",
    "Transition",
    "UndeclaredTransition",
    "input_from_json",
    "input_name",
    "input_to_json",
    "replay",
    "statuses_ahead",
    "statuses_matching",
    "transitions_of",
    "undo_plan",
]
