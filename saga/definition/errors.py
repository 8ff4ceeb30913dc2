"""The saga definition's exceptions (the tree is drawn in the package docstring)."""

from __future__ import annotations


class SagaError(Exception):
    """Base of every error raised by the saga definition."""


class SagaNotStarted(SagaError):
    """An input arrived for a saga that has not started (no ``order.created`` yet).

    The runtime parks such inputs and feeds them once the saga exists, since
    messages from different exchanges may overtake each other.
    """


class InvalidInput(SagaError, ValueError):
    """A stored input that :func:`input_from_json` cannot decode."""


class InvalidSagaState(SagaError, ValueError):
    """A stored state that :meth:`SagaState.from_json` cannot decode."""


class UndeclaredTransition(SagaError, RuntimeError):
    """An action moved the saga to a status its row of the table does not declare.

    This is a bug in the definition: the transition table (and so the diagram)
    would no longer describe what the saga does.
    """
