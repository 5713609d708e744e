"""Work of several steps written once, driven by a tiny sync and a tiny async driver.

A flow is a generator that yields typed steps and receives each step's result, or has the
step's [`ConnectWiseBillingError`][connectwise_billing.ConnectWiseBillingError] thrown into it.
Everything between the steps (what to read next, how to settle a lost answer) lives in the
flow; [`adrive`][connectwise_billing._flow.adrive] awaits each step, and
[`drive`][connectwise_billing._flow.drive] runs the very same loop with steps performed at
once. This is the pattern of httpx's auth flows: the sync and the async client share one
implementation of every multi-request operation, and no logic is written twice.

Steps are typed (`Step[R]` has a result of type `R`), and flows take results with
`value = yield from step(...)`-style helpers generic in `R`, so mypy checks every seam between
a flow and its steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol, TypeVar

from connectwise_billing.errors import ConnectWiseBillingError

__all__ = ["Flow", "Guard", "adrive", "drive"]

S = TypeVar("S")
"""The steps a flow yields."""
T = TypeVar("T")
"""What a flow returns."""

Flow = Generator[S, Any, T]
"""A generator that yields steps of type `S`, receives their results and returns a `T`."""


class Guard(Protocol):
    """Watches a flow's steps: which errors end the whole run instead of being handed to the
    flow, and which steps succeeded."""

    def ends_run(self, error: ConnectWiseBillingError) -> bool:
        """Whether `error` is raised out of the driver rather than thrown into the flow."""

    def succeeded(self) -> None:
        """Note that a step succeeded."""


async def adrive(
    flow: Flow[S, T], perform: Callable[[S], Awaitable[Any]], guard: Guard | None = None
) -> T:
    """Run `flow` to its end, awaiting `perform` for each step it yields.

    A `ConnectWiseBillingError` from a step is thrown into the flow (which may handle it), unless
    `guard` says it ends the run: then the flow is closed and the error raised.
    """
    try:
        step = next(flow)
        while True:
            try:
                result = await perform(step)
            except ConnectWiseBillingError as error:
                if guard is not None and guard.ends_run(error):
                    flow.close()
                    raise
                step = flow.throw(error)
            else:
                if guard is not None:
                    guard.succeeded()
                step = flow.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def drive(flow: Flow[S, T], perform: Callable[[S], Any], guard: Guard | None = None) -> T:
    """Run `flow` to its end, performing each step with `perform`, without an event loop.

    The same loop as [`adrive`][connectwise_billing._flow.adrive]: each step is performed at
    once, so the coroutine finishes on its first resumption and never needs a loop.
    """

    async def at_once(step: S) -> Any:
        return perform(step)

    coroutine = adrive(flow, at_once, guard)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("a step of a sync flow waited for an event loop")
