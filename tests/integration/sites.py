"""One harness over two PSAs: ConnectWise's simulator and the in-memory ledger.

The applier suite (`test_applier.py`) is written against `Site`: arrange lines, make the next
write meet a fault named in neutral terms, apply a diff through the site's backend (sync or
async), and look at what the PSA holds. Each neutral fault maps to the PSA's own: a create whose
answer is lost after it was committed is a connection dropped after the commit on ConnectWise,
and a lost answer in the ledger.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, Literal

from connectwise_billing import (
    AsyncConnectWiseClient,
    ConnectWiseClient,
    OperationResult,
    RetryPolicy,
    apply_diff,
    async_apply_diff,
)
from connectwise_billing.testing import FakeConnectWise, Fault, VirtualClock
from tests.integration.conftest import API_URL
from tests.integration.ledger import AsyncLedgerBackend, Ledger, LedgerBackend

Neutral = Literal["landed_answer_lost", "answer_lost", "commit_later", "visible_later", "refused"]
WriteKind = Literal["create", "update", "cancel"]


class Site:
    """A PSA for the applier suite."""

    name: str

    def __init__(self, clock: VirtualClock, kind: str) -> None:
        self.clock = clock
        self.kind = kind

    def __repr__(self) -> str:
        return f"{self.name}-{self.kind}"

    def product(self, price: str = "8.00", cost: str = "3.25") -> int:
        raise NotImplementedError

    def agreement(self) -> int:
        raise NotImplementedError

    def line(self, agreement: int, product: int, quantity: int, **prices: Decimal) -> int:
        raise NotImplementedError

    def lines(self, agreement: int) -> list[Any]:
        """What the PSA holds (everything committed, visible or not yet)."""
        raise NotImplementedError

    def get(self, line_id: int) -> Any:
        return next(line for line in self.all_lines() if line.id == line_id)

    def all_lines(self) -> list[Any]:
        raise NotImplementedError

    def edit(self, line_id: int, **values: Any) -> None:
        raise NotImplementedError

    def remove(self, line_id: int) -> None:
        raise NotImplementedError

    def writes(self, kind: WriteKind) -> int:
        """Writes of `kind` that reached the PSA."""
        raise NotImplementedError

    def fail(self, fault: Neutral, op: WriteKind, *, seconds: float = 0.0, times: int = 1) -> None:
        raise NotImplementedError

    def apply(
        self, diff: Any, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> list[OperationResult]:
        raise NotImplementedError


class ConnectWiseSite(Site):
    name = "connectwise"
    METHODS: ClassVar[dict[str, str]] = {"create": "POST", "update": "PATCH", "cancel": "PATCH"}
    FAULTS: ClassVar[dict[Neutral, Callable[[float], Fault]]] = {
        "landed_answer_lost": lambda _: Fault.drop_after_commit(),
        "answer_lost": lambda _: Fault.drop_before_commit(),
        "commit_later": Fault.commit_later,
        "visible_later": Fault.slow_visibility,
        "refused": lambda _: Fault.invalid(),
    }

    def __init__(self, clock: VirtualClock, kind: str) -> None:
        super().__init__(clock, kind)
        self.fake = FakeConnectWise(seed=3, time_source=clock)
        self.credentials = self.fake.add_api_member()
        self.company = self.fake.add_company("Contoso Ltd")
        self.skus = itertools.count(1)

    def product(self, price: str = "8.00", cost: str = "3.25") -> int:
        return self.fake.add_product(f"SKU-{next(self.skus)}", price=price, cost=cost)

    def agreement(self) -> int:
        return self.fake.add_agreement(self.company)

    def line(self, agreement: int, product: int, quantity: int, **prices: Decimal) -> int:
        return self.fake.add_addition(agreement, product, quantity, **prices)

    def lines(self, agreement: int) -> list[Any]:
        return self.fake.list_additions(agreement)

    def all_lines(self) -> list[Any]:
        return self.fake.list_additions()

    def edit(self, line_id: int, **values: Any) -> None:
        self.fake.edit_addition(line_id, **values)

    def remove(self, line_id: int) -> None:
        self.fake.remove_addition(line_id)

    def writes(self, kind: WriteKind) -> int:
        return self.fake.count_requests(self.METHODS[kind])

    def fail(self, fault: Neutral, op: WriteKind, *, seconds: float = 0.0, times: int = 1) -> None:
        self.fake.faults.add(self.FAULTS[fault](seconds), method=self.METHODS[op], times=times)

    def apply(
        self, diff: Any, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> list[OperationResult]:
        settings = {"retry": retry} if retry else {}
        if self.kind == "sync":
            with ConnectWiseClient(
                API_URL, self.credentials, transport=self.fake.transport(), **settings
            ) as client:
                return apply_diff(client, diff, **kwargs)

        async def main() -> list[OperationResult]:
            async with AsyncConnectWiseClient(
                API_URL, self.credentials, transport=self.fake.async_transport(), **settings
            ) as client:
                return await async_apply_diff(client, diff, **kwargs)

        return asyncio.run(main())


class LedgerSite(Site):
    name = "ledger"
    FAULTS: ClassVar[dict[Neutral, str]] = {
        "landed_answer_lost": "lost_after_commit",
        "answer_lost": "lost_before_commit",
        "commit_later": "commit_later",
        "visible_later": "visible_later",
        "refused": "refused",
    }

    def __init__(self, clock: VirtualClock, kind: str) -> None:
        super().__init__(clock, kind)
        self.ledger = Ledger(clock)

    def product(self, price: str = "8.00", cost: str = "3.25") -> int:
        return self.ledger.add_product(price, cost)

    def agreement(self) -> int:
        return self.ledger.add_agreement()

    def line(self, agreement: int, product: int, quantity: int, **prices: Decimal) -> int:
        return self.ledger.add_line(agreement, product, quantity, **prices)

    def lines(self, agreement: int) -> list[Any]:
        return [line for line in self.all_lines() if line.agreement_id == agreement]

    def all_lines(self) -> list[Any]:
        return list(self.ledger.stored())

    def edit(self, line_id: int, **values: Any) -> None:
        self.ledger.edit(line_id, **values)

    def remove(self, line_id: int) -> None:
        self.ledger.remove(line_id)

    def writes(self, kind: WriteKind) -> int:
        kinds = ("update", "cancel") if kind != "create" else ("create",)
        return sum(1 for op, _ in self.ledger.writes if op in kinds)

    def fail(self, fault: Neutral, op: WriteKind, *, seconds: float = 0.0, times: int = 1) -> None:
        self.ledger.fail(self.FAULTS[fault], op, seconds=seconds, times=times)  # type: ignore[arg-type]

    def apply(
        self, diff: Any, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> list[OperationResult]:
        # The ledger is not ConnectWise: it takes the settle part of the policy only.
        settle = retry.settle if retry else None
        if self.kind == "sync":
            return apply_diff(LedgerBackend(self.ledger, settle=settle), diff, **kwargs)
        backend = AsyncLedgerBackend(self.ledger, settle=settle)
        return asyncio.run(async_apply_diff(backend, diff, **kwargs))


SITES = {"connectwise": ConnectWiseSite, "ledger": LedgerSite}
