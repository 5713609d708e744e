"""The applier's contract, against every billing backend: ConnectWise (through its simulator)
and an in-memory ledger that is not ConnectWise, each sync and async.

A create is sent once; a write whose answer was lost is settled by reading; an update or a
cancel the reads show did not land is sent again; what the reads do not show is `unknown` and
left to the next sync; a report never claims a write that is not
there. The PSAs share a virtual clock with the SDK's waits: "commits 1 s later" and "re-read
every 2 s for 10 s" take no real time.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectwise_billing import (
    AgreementDiff,
    CompanyUsage,
    Plan,
    PlanMapping,
    RetryPolicy,
    SyncPolicy,
    reconcile_agreement,
)
from connectwise_billing.testing import VirtualClock
from tests.integration.sites import SITES, Site

TODAY = date(2026, 11, 28)
GOLD = Plan("gold", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00"))
SILVER = Plan("silver", "Silver 10 GB", cost=Decimal("1.00"), price=Decimal("4.00"))


@pytest.fixture(
    params=[(name, kind) for name in SITES for kind in ("sync", "async")],
    ids=lambda param: f"{param[0]}-{param[1]}",
)
def site(request: pytest.FixtureRequest, clock: VirtualClock) -> Site:
    name, kind = request.param
    return SITES[name](clock, kind)


class Shop:
    """One agreement of one company on `site`, with Gold (and Silver) mapped."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.agreement = site.agreement()
        self.mapping = PlanMapping(
            {"gold": site.product("8.00", "3.25"), "silver": site.product("4.00", "1.00")}
        )

    def diff(self, seats: dict[str, int], **policy: Any) -> AgreementDiff:
        """What a sync would do now (the applier's mechanics: no guardrail holds anything)."""
        policy.setdefault("guardrails", None)
        usage = CompanyUsage(self.agreement, seats, company="Contoso Ltd")
        lines = self.site.lines(self.agreement)
        return reconcile_agreement(
            [GOLD, SILVER], self.mapping, usage, lines, SyncPolicy(**policy), today=TODAY
        )

    def active(self) -> list[Any]:
        return [line for line in self.site.lines(self.agreement) if line.cancelled_date is None]


@pytest.fixture
def shop(site: Site) -> Shop:
    return Shop(site)


def test_a_create_that_landed_is_confirmed_by_reading_and_never_sent_again(shop: Shop) -> None:
    diff = shop.diff({"gold": 12})
    shop.site.fail("landed_answer_lost", "create")
    [result] = shop.site.apply(diff)
    assert result.status == "applied"
    assert result.note is not None and result.note.startswith("confirmed by re-reading")
    [created] = shop.active()
    assert result.line_id == created.id
    assert shop.site.writes("create") == 1
    assert shop.diff({"gold": 12}).is_empty


@pytest.mark.parametrize("seconds", [1.0, 5.0])
def test_a_create_committed_after_its_answer_was_lost_is_found_within_the_window(
    shop: Shop, seconds: float
) -> None:
    shop.site.fail("commit_later", "create", seconds=seconds)
    [result] = shop.site.apply(shop.diff({"gold": 12}))
    assert result.status == "applied"
    assert shop.site.writes("create") == 1
    assert len(shop.active()) == 1


def test_a_create_whose_outcome_cannot_be_learned_is_unknown_and_left_to_the_next_sync(
    shop: Shop,
) -> None:
    diff = shop.diff({"gold": 12})
    shop.site.fail("answer_lost", "create")
    [result] = shop.site.apply(diff)
    assert result.status == "unknown" and not result.ok
    assert result.error is not None and result.error.startswith("outcome unknown:")
    assert "6 re-read(s) did not show it" in result.error  # now, then every 2 s for 10 s
    assert shop.site.writes("create") == 1
    assert shop.active() == []
    [again] = shop.site.apply(shop.diff({"gold": 12}))
    assert again.status == "applied"
    assert len(shop.active()) == 1


def test_a_create_that_lands_after_the_settle_window_is_found_by_the_next_sync(
    shop: Shop, clock: VirtualClock
) -> None:
    shop.site.fail("commit_later", "create", seconds=60.0)
    [result] = shop.site.apply(shop.diff({"gold": 12}))
    assert result.status == "unknown"
    clock.advance(60.0)
    assert shop.diff({"gold": 12}).is_empty  # the next sync sees it landed: nothing to write
    assert len(shop.active()) == 1


def test_an_unknown_create_is_settled_again_before_the_agreement_is_let_go(shop: Shop) -> None:
    """Gold lands 3 s late, after its own re-reads (0, 1, 2 s) gave up; Silver's settle takes
    time too, and the final read of the agreement finds Gold."""
    diff = shop.diff({"gold": 12, "silver": 2})
    shop.site.fail("commit_later", "create", seconds=3.0)
    shop.site.fail("commit_later", "create", seconds=0.5)
    retry = RetryPolicy(settle_timeout=2.0, settle_interval=1.0)
    gold, silver = shop.site.apply(diff, retry=retry)
    assert silver.status == "applied"
    assert (gold.status, gold.note) == (
        "applied",
        "confirmed by the final re-read of the agreement",
    )
    assert shop.site.writes("create") == 2


def test_a_refused_create_is_failed_and_not_sent_again(shop: Shop) -> None:
    shop.site.fail("refused", "create")
    [result] = shop.site.apply(shop.diff({"gold": 12}))
    assert result.status == "failed" and result.error
    assert shop.site.writes("create") == 1
    assert shop.active() == []


def test_a_line_that_existed_before_the_create_does_not_confirm_it(shop: Shop) -> None:
    diff = shop.diff({"gold": 12})
    [create] = diff.creates
    twin = shop.site.line(
        shop.agreement, create.product_id, 12, unit_price=create.unit_price,
        unit_cost=create.unit_cost,
    )  # fmt: skip
    shop.site.fail("answer_lost", "create")
    [result] = shop.site.apply(diff, known_ids=[twin])
    assert result.status == "unknown"


def test_a_line_of_another_product_or_quantity_does_not_confirm_a_create(shop: Shop) -> None:
    diff = shop.diff({"gold": 12})
    shop.site.line(shop.agreement, shop.mapping["silver"], 12)
    shop.site.line(shop.agreement, shop.mapping["gold"], 13)
    shop.site.fail("answer_lost", "create")
    [result] = shop.site.apply(diff, known_ids=[])
    assert result.status == "unknown"


def test_a_create_is_held_until_reads_show_it(shop: Shop, clock: VirtualClock) -> None:
    """A create answered at once that reads do not show yet: the agreement is not let go (and
    another sync could not miss the line) until reads show it, within the settle window."""
    shop.site.fail("visible_later", "create", seconds=3.0)
    [result] = shop.site.apply(shop.diff({"gold": 12}))
    assert (result.status, result.note) == ("applied", None)
    assert clock.monotonic() >= 3.0


@pytest.fixture
def stale(shop: Shop) -> tuple[Shop, int]:
    """The agreement with a Gold line of 3 seats (a diff to 12 updates it)."""
    return shop, shop.site.line(shop.agreement, shop.mapping["gold"], 3)


@pytest.mark.parametrize("fault", ["landed_answer_lost", "commit_later"])
def test_an_update_that_landed_before_its_answer_was_lost_is_applied(
    stale: tuple[Shop, int], fault: Any
) -> None:
    shop, line = stale
    shop.site.fail(fault, "update", seconds=1.0)
    [result] = shop.site.apply(shop.diff({"gold": 12}))
    assert result.status == "applied"
    assert result.note is not None and result.note.startswith("confirmed by re-reading")
    assert shop.site.writes("update") == 1
    assert shop.site.get(line).quantity == 12


def test_a_cancel_that_landed_before_its_answer_was_lost_is_applied(
    stale: tuple[Shop, int],
) -> None:
    shop, line = stale
    diff = shop.diff({"gold": 0}, on_zero="cancel")
    assert diff.cancels
    shop.site.fail("landed_answer_lost", "cancel")
    [result] = shop.site.apply(diff)
    assert result.status == "applied"
    assert shop.site.get(line).cancelled_date is not None


def test_an_update_whose_answer_was_lost_before_it_landed_is_sent_again(
    stale: tuple[Shop, int],
) -> None:
    """An update replaces fields: re-reads that show it did not land make a second copy safe,
    and the update heals in the run."""
    shop, line = stale
    shop.site.fail("answer_lost", "update")
    [result] = shop.site.apply(shop.diff({"gold": 12}))
    assert result.status == "applied"
    assert shop.site.writes("update") == 2
    assert shop.site.get(line).quantity == 12


def test_an_update_lost_every_time_ends_unknown_after_max_attempts(
    stale: tuple[Shop, int],
) -> None:
    shop, line = stale
    shop.site.fail("answer_lost", "update", times=10)
    [result] = shop.site.apply(shop.diff({"gold": 12}), retry=RetryPolicy(max_attempts=3))
    assert result.status == "unknown"
    assert shop.site.writes("update") == 3
    assert shop.site.get(line).quantity == 3


def test_a_refused_update_is_failed(stale: tuple[Shop, int]) -> None:
    shop, _ = stale
    shop.site.fail("refused", "update")
    [result] = shop.site.apply(shop.diff({"gold": 12}))
    assert result.status == "failed"
    assert shop.site.writes("update") == 1


def test_an_update_of_a_vanished_line_fails_cleanly(stale: tuple[Shop, int]) -> None:
    shop, line = stale
    diff = shop.diff({"gold": 12})
    shop.site.remove(line)
    [result] = shop.site.apply(diff)
    assert (result.status, result.error) == ("failed", "the addition no longer exists")


def test_verify_before_write_refuses_to_overwrite_a_change(stale: tuple[Shop, int]) -> None:
    shop, line = stale
    policy = SyncPolicy(verify_before_write=True)
    diff = shop.diff({"gold": 12}, verify_before_write=True)
    shop.site.edit(line, quantity=Decimal(99))  # someone edits it meanwhile
    [result] = shop.site.apply(diff, policy=policy)
    assert result.status == "conflict"
    assert result.error is not None and "quantity" in result.error
    assert shop.site.get(line).quantity == 99
    assert shop.site.writes("update") == 0


def test_verify_before_write_applies_when_nothing_changed(stale: tuple[Shop, int]) -> None:
    shop, line = stale
    policy = SyncPolicy(verify_before_write=True)
    [result] = shop.site.apply(shop.diff({"gold": 12}, verify_before_write=True), policy=policy)
    assert result.status == "applied"
    assert shop.site.get(line).quantity == 12


def test_a_dry_run_plans_everything_and_writes_nothing(stale: tuple[Shop, int]) -> None:
    shop, _ = stale
    results = shop.site.apply(shop.diff({"gold": 12, "silver": 1}), dry_run=True)
    assert [r.status for r in results] == ["planned", "planned"]
    assert shop.site.writes("create") == shop.site.writes("update") == 0
