"""The return saga: a customer sends back some or all lines of a delivered order.

A second definition on the saga runtime (``saga/kinds.py``), built like the order
saga (``saga/definition/``): pure, its table written out (``table.py``), its state
a JSON document.  ``return.requested`` (from the orders service) starts it
waiting for the goods, with a timer (``OMS_RETURN_RECEIPT_DAYS``)::

    awaiting_receipt  --return.received-->  restocking  inventory.restock
                      --timer / abort---->  expiring    return.expire      -> expired
    restocking        --inventory.restocked->  refunding  payment.refund_return
    refunding         --payment.return_refunded->  closing  return.close   -> completed

A command unanswered after its resends, or a refund refused after its retries
(backing off between them), leaves the saga ``failed`` for ops; an operator retry
resends the command that failed.  The refund is the received quantities at the
prices paid (``ReturnState.refund_amount``); payments refuses any refund that
would take more than the order's capture left (two returns of one order).
"""

from saga.returns.config import ReturnConfig
from saga.returns.react import ReturnSaga
from saga.returns.reaction import ReturnDecision
from saga.returns.state import ReturnState
from saga.returns.statuses import TERMINAL, ReturnStatus

__all__ = [
    "TERMINAL",
    "ReturnConfig",
    "ReturnDecision",
    "ReturnSaga",
    "ReturnState",
    "ReturnStatus",
]
