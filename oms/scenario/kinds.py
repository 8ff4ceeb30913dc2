"""What a step kind and an expectation kind are, and how a file's kinds are read.

A kind is a model with exactly one field, named by the kind: the YAML mapping
``- checkout: {order: o1, ...}`` is read as ``Checkout(checkout=CheckoutSpec(...))``.
The kind's name is written once, as that field; the code that runs the step
reads ``self.checkout``, so renaming the field without the code (or the code
without the field) fails type checking.  Each kind also says which names of the
file it defines and uses (:meth:`Kind.references`), checked before anything runs.

The registries (:data:`oms.scenario.steps.STEPS`,
:data:`oms.scenario.expectations.EXPECTATIONS`) list the kind classes;
:func:`union_of` derives from them the union pydantic reads a step or an
expectation as, tagged by the kind, and the list of kinds its errors name.
"""

from __future__ import annotations

import difflib
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import UnionType
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from pydantic import BaseModel, Discriminator, Tag

from oms.scenario.spec import Setup, Spec, Uses

if TYPE_CHECKING:
    from oms.scenario.context import ScenarioRun
    from oms.scenario.results import Difference

Loc = tuple[str | int, ...]
"""Where in the file: ``("steps", 2, "checkout", "items")``."""
Reference = tuple[Loc, str]
"""A name used where the file does not define it: where, and what is wrong."""
UNKNOWN_KIND = "unknown_kind"
"""The pydantic error type of a mapping whose key is no kind."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


DEFINED_BY_STEPS = frozenset({"order", "request", "message", "return"})
"""The names a file defines in its steps (the rest come from its set-up)."""


@dataclass
class Names:
    """The names the file defines so far, as its steps are read in order."""

    setup: Setup
    orders: set[str] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    returns: set[str] = field(default_factory=set)
    unsure: bool = False
    """Whether a step could not be read (a file with other errors): the names it
    would have defined are unknown, so a use of one of :data:`DEFINED_BY_STEPS` is
    not held against the file."""

    @property
    def products(self) -> set[str]:
        return set(self.setup.products)

    @property
    def users(self) -> set[str]:
        return set(self.setup.users)

    def use(self, loc: Loc, what: str, name: str | None, known: set[str]) -> Iterator[Reference]:
        """A reference problem when ``name`` is given and not among ``known``."""
        if name is None or name in known or (self.unsure and what in DEFINED_BY_STEPS):
            return
        defined = ", ".join(sorted(known)) or "none"
        yield loc, f"no {what} named {name!r}{did_you_mean(name, known)}; defined: {defined}"

    def known(self, what: str) -> set[str]:
        """The names of ``what`` (an order, a product…) the file has given so far."""
        return {
            "order": self.orders,
            "product": self.products,
            "user": self.users,
            "request": self.requests,
            "message": self.messages,
            "return": self.returns,
        }[what]

    def used_by(self, body: Any, loc: Loc) -> Iterator[Reference]:
        """A problem for each name in ``body`` (at ``loc``) that a field typed
        :data:`~oms.scenario.spec.OrderName` (and the like) uses and the file has
        not given yet: one name, a list of them, or a mapping's keys."""
        if not isinstance(body, BaseModel):
            return
        for name_field, (what, several) in _uses(type(body)).items():
            value = getattr(body, name_field)
            # Where the file wrote it: under the field's alias (``return``), if any.
            written = type(body).model_fields[name_field].alias or name_field
            if not several:
                yield from self.use((*loc, written), what, value, self.known(what))
                continue
            # A list's names are found by their place in it, a mapping's by themselves.
            places = enumerate(value) if isinstance(value, list) else ((n, n) for n in value)
            for at, name in places:
                yield from self.use((*loc, written, at), what, name, self.known(what))


@cache
def _uses(model: type[BaseModel]) -> dict[str, tuple[str, bool]]:
    """The fields of ``model`` that use names: what each names, and whether it
    holds several (a list, or a mapping keyed by them)."""
    found: dict[str, tuple[str, bool]] = {}
    for name_field, info in model.model_fields.items():
        what = _named(info.annotation, info.metadata)
        if what is not None:
            found[name_field] = (what, False)
        elif get_origin(info.annotation) in (list, dict):
            what = _named(get_args(info.annotation)[0], [])
            if what is not None:
                found[name_field] = (what, True)
    return found


def _named(annotation: Any, metadata: Sequence[Any]) -> str | None:
    """What a name typed ``annotation`` (with pydantic's ``metadata``) names, if anything."""
    for mark in (*metadata, *getattr(annotation, "__metadata__", ())):
        if isinstance(mark, Uses):
            return mark.what
    if get_origin(annotation) in (Union, UnionType):
        return next(filter(None, (_named(arg, []) for arg in get_args(annotation))), None)
    return None


class Kind(Spec):
    """A step or an expectation: one field, named by its kind."""

    @classmethod
    def kind(cls) -> str:
        """The one field's name, or its alias (a kind named by a Python keyword,
        ``return``, is a field ``return_`` with the alias ``return``)."""
        name, info = next(iter(cls.model_fields.items()))
        return info.alias or name

    @property
    def body(self) -> Any:
        """The value of the one field (what the file wrote under the kind)."""
        return getattr(self, next(iter(type(self).model_fields)))

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        """The names this uses that ``names`` lacks (``loc`` is this part's body);
        adds to ``names`` the ones this defines.  Here: the names its typed fields
        use; a kind that defines names, or checks more, adds to it."""
        return names.used_by(self.body, loc)


class StepKind(Kind):
    """Something a scenario does to the system."""

    changes_system: ClassVar[bool] = False
    """Whether it changes the system for everyone (a fault, a crash, a broker cut):
    a scenario holding one runs alone, after the others."""

    controlled: ClassVar[bool] = False
    """Whether it is done by the control capability of its own name."""

    def needs(self) -> set[str]:
        """The control capabilities it uses (:class:`~oms.scenario.control.Control`)."""
        return {self.kind()} if self.controlled else set()

    def parts(self) -> Iterator[StepKind]:
        """Itself, or the steps it is made of."""
        yield self

    @abstractmethod
    async def run(self, run: ScenarioRun) -> None:
        """Do it; raises :class:`~oms.scenario.results.StepFailed` when the system says no."""


class ExpectationKind(Kind):
    """Something that must hold once the scenario's sagas have settled."""

    @abstractmethod
    async def check(self, run: ScenarioRun) -> Difference | None:
        """None when it holds; else what was expected and what was seen."""


K = TypeVar("K", bound=Kind)


def kinds_of(registry: Sequence[type[K]]) -> dict[str, type[K]]:
    """Each kind's name and class, in the registry's order; a name twice is an error."""
    named = {kind.kind(): kind for kind in registry}
    if len(named) != len(registry):
        raise AssertionError(f"two kinds share a name among {[k.kind() for k in registry]}")
    return named


def _kind_key(value: Any) -> str | None:
    """The kind of a step or expectation: its one key (or its model's one field)."""
    if isinstance(value, dict):
        return next(iter(value)) if len(value) == 1 else None
    if isinstance(value, Kind):
        return value.kind()
    return None


def union_of(registry: Sequence[type[K]], what: str) -> Any:
    """The union pydantic reads ``what`` (``a step``) as: the registry's kinds, each
    tagged by its name; any other mapping is an :data:`UNKNOWN_KIND` error."""
    names = kinds_of(registry)
    members = tuple(Annotated[kind, Tag(name)] for name, kind in names.items())
    return Annotated[
        Union[members],  # noqa: UP007 (a union built from a tuple)
        Discriminator(
            _kind_key,
            custom_error_type=UNKNOWN_KIND,
            custom_error_message=f"{what} is a mapping with one key, its kind: {', '.join(names)}",
        ),
    ]
