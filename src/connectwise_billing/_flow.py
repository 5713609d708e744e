"""Work of several steps written once, driven by one loop, sync or async.

A flow is a generator that yields typed [`Step`][connectwise_billing._flow.Step]s and receives
each step's result, or has the step's
[`ConnectWiseBillingError`][connectwise_billing.ConnectWiseBillingError] thrown into it.
Everything between the steps (what to read next, how to settle a lost answer) lives in the
flow; [`run`][connectwise_billing._flow.run] performs each step with a sync target and
[`arun`][connectwise_billing._flow.arun] awaits each with an async one, through the very same
loop ([`adrive`][connectwise_billing._flow.adrive]). This is the pattern of httpx's auth flows:
the sync and the async code share one implementation of every multi-step operation, and no
logic is written twice.

There is one kind of step, at two boundaries: a sync's flows yield steps a billing backend
performs (`runner._steps`: read the lines, create one, ...), and the ConnectWise backend's own
flows yield steps the HTTP client performs (`client._calls`: fetch a record, collect a
listing). A step's type says its result and its targets (`Step[R, X, A]`: a result `R`, done
with a sync `X` or an async `A`), and flows take results with `value = yield from ask(step)`,
so mypy checks every seam between a flow and what performs its steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, Protocol, TypeVar

from connectwise_billing.errors import ConnectWiseBillingError

__all__ = ["Flow", "Guard", "Step", "adrive", "arun", "ask", "drive", "run"]

S = TypeVar("S")
"""The steps a flow yields."""
T = TypeVar("T")
"""What a flow returns."""
R = TypeVar("R")
"""What a step gives back to the flow that yielded it."""
X = TypeVar("X")
"""What performs a step in sync code (a client, a billing backend)."""
A = TypeVar("A")
"""What performs a step in async code (an async client, an async billing backend)."""

Flow = Generator[S, Any, T]
"""A generator that yields steps of type `S`, receives their results and returns a `T`."""


class Step(Generic[R, X, A]):
    """One thing a flow asks for, with a result of type `R`: performed by a sync `X`, or
    awaited from an async `A`."""

    def perform(self, target: X) -> R:
        """Do the step with the sync target."""
        raise NotImplementedError

    async def aperform(self, target: A) -> R:
        """Do the step with the async target."""
        raise NotImplementedError


def ask(step: Step[R, X, A]) -> Generator[Step[Any, X, A], Any, R]:
    """`value = yield from ask(step)`: hand `step` to the driver and type its result."""
    result: R = yield step
    return result


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


def run(target: X, flow: Flow[Step[Any, X, Any], T], guard: Guard | None = None) -> T:
    """Run `flow` to its end, each step performed by `target`; the errors `guard` says end the
    run are raised instead of being thrown into the flow."""
    return drive(flow, lambda step: step.perform(target), guard)


async def arun(target: A, flow: Flow[Step[Any, Any, A], T], guard: Guard | None = None) -> T:
    """Run `flow` to its end, each step awaited from `target` (see `run`)."""
    return await adrive(flow, lambda step: step.aperform(target), guard)
