"""Small concurrency tools for routes that need several answers at once.

* :func:`concurrently` awaits a few coroutines at the same time and, when one
  fails, cancels the others and raises that failure itself (not an
  ``ExceptionGroup``), so the problem handlers see the typed error.
* :class:`Once` shares one call between the parts of a fan-out that need the
  same answer (the order, whose items name the products to fetch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar, overload

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
T = TypeVar("T")


@overload
async def concurrently(a: Coroutine[Any, Any, A], b: Coroutine[Any, Any, B], /) -> tuple[A, B]: ...


@overload
async def concurrently(
    a: Coroutine[Any, Any, A], b: Coroutine[Any, Any, B], c: Coroutine[Any, Any, C], /
) -> tuple[A, B, C]: ...


async def concurrently(*coroutines: Coroutine[Any, Any, Any]) -> tuple[Any, ...]:
    """Await every coroutine concurrently; the first failure cancels the rest and is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coroutines]
    except ExceptionGroup as failures:
        first = failures.exceptions[0]
        raise first from first.__cause__
    return tuple(task.result() for task in tasks)


class Once(Generic[T]):
    """Calls ``fetch`` the first time it is awaited; every later await shares that call.

    A caller that is cancelled does not cancel the shared call for the others;
    :meth:`cancel` ends it once nobody needs it any more.
    """

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._task: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        if self._task is None:
            self._task = asyncio.ensure_future(self._fetch())
        return await asyncio.shield(self._task)

    def cancel(self) -> None:
        """Cancel the shared call if it is still running (and read a failure nobody read)."""
        task = self._task
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()
