"""Run the sync functions against the simulator: sync or async, in process or over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from connectwise_billing import (
    apply_diff,
    async_apply_diff,
    async_refresh_plan_prices,
    async_sync_all,
    async_sync_company,
    refresh_plan_prices,
    sync_all,
    sync_company,
)
from connectwise_billing.testing import ExampleMSP, FakeConnectWise, build_example
from tests.conftest import Api, Call

API_URL = "https://cw.example/v2025_1/apis/3.0"


class Syncer:
    """The sync entry points of one kind (sync or async), over one transport."""

    def __init__(self, kind: str, over_http: bool) -> None:
        self.api = Api(kind)
        self.kind = kind
        self.over_http = over_http

    def __repr__(self) -> str:
        return f"{self.kind}-{'http' if self.over_http else 'in-process'}"

    @contextlib.contextmanager
    def connect(self, example: ExampleMSP | FakeConnectWise, **client: Any) -> Iterator[Call]:
        fake = example.fake if isinstance(example, ExampleMSP) else example
        credentials = example.credentials
        if self.over_http:
            with fake.serve() as url, self.api.session(url, credentials, **client) as call:
                yield call
        else:
            with self.api.session(API_URL, credentials, fake=fake, **client) as call:
                yield call

    def sync_all(
        self, example: ExampleMSP, *args: Any, client: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        fn = sync_all if self.kind == "sync" else async_sync_all
        with self.connect(example, **(client or {})) as call:
            return call(lambda c: fn(c, example.plans, example.mapping, *args, **kwargs))

    def sync_company(
        self, example: ExampleMSP, *args: Any, client: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        fn = sync_company if self.kind == "sync" else async_sync_company
        with self.connect(example, **(client or {})) as call:
            return call(lambda c: fn(c, example.plans, example.mapping, *args, **kwargs))

    def apply(
        self, example: ExampleMSP, diff: Any, *, client: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        fn = apply_diff if self.kind == "sync" else async_apply_diff
        with self.connect(example, **(client or {})) as call:
            return call(lambda c: fn(c, diff, **kwargs))

    def refresh(self, example: ExampleMSP, plans: Any) -> Any:
        fn = refresh_plan_prices if self.kind == "sync" else async_refresh_plan_prices
        with self.connect(example) as call:
            return call(lambda c: fn(c, plans, example.mapping))


@pytest.fixture(
    params=[("sync", False), ("async", False), ("sync", True), ("async", True)],
    ids=["sync", "async", "sync-http", "async-http"],
)
def syncer(request: pytest.FixtureRequest) -> Syncer:
    """The same test for the sync and async entry points, in process and over real HTTP."""
    return Syncer(*request.param)


@pytest.fixture(params=[("sync", False), ("async", False)], ids=["sync", "async"])
def quick_syncer(request: pytest.FixtureRequest) -> Syncer:
    """Sync and async, in process only: for tests that run many syncs."""
    return Syncer(*request.param)


@pytest.fixture
def example() -> ExampleMSP:
    """The example MSP: 50 companies, with a deleted, a cancelled and a hidden agreement."""
    return build_example(50, seed=1)
