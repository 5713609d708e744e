"""Shared fixtures: the sync/async runner, the simulator, and the simulator's conformance check."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    ConnectWiseClient,
    Credentials,
    RetryPolicy,
    _waits as waits,
    convert,
)
from connectwise_billing.testing import FakeConnectWise, VirtualClock, set_testing
from tests import contract_check

BASE_URL = "https://api-na.myconnectwise.net/v2025_1/apis/3.0"
PRIVATE_KEY = "pRiVaTe-KeY-do-not-log-4711"
CREDENTIALS = Credentials("acme", "pubkey", PRIVATE_KEY, "8d1c5d9e-8f8a-4b7e-9a49-58d1c1e0f001")
RETRY = RetryPolicy()  # the default: testing mode (below) makes its waits take no time


class Api:
    """Runs one client call on the sync or the async client, so tables are written once.

    `op` receives the client and returns a value, an awaitable, an iterator or an async
    iterator; iterators are collected into lists.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind

    def run(
        self,
        op: Callable[[Any], Any],
        *,
        handler: Callable[[httpx.Request], httpx.Response] | None = None,
        fake: FakeConnectWise | None = None,
        base_url: str = BASE_URL,
        credentials: Credentials = CREDENTIALS,
        **kwargs: Any,
    ) -> Any:
        kwargs.setdefault("retry", RETRY)
        kwargs.setdefault("rate_limit_per_minute", None)
        if self.kind == "sync":
            transport = fake.transport() if fake else httpx.MockTransport(handler)
            with ConnectWiseClient(base_url, credentials, transport=transport, **kwargs) as client:
                return _collect(op(client))

        async def main() -> Any:
            transport = fake.async_transport() if fake else httpx.MockTransport(handler)
            async with AsyncConnectWiseClient(
                base_url, credentials, transport=transport, **kwargs
            ) as client:
                return await _finish(op(client))

        return asyncio.run(main())

    @contextlib.contextmanager
    def session(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        fake: FakeConnectWise | None = None,
        **kwargs: Any,
    ) -> Iterator[Call]:
        """One client for a whole flow; yields `call(op)`, which runs `op(client)` to the end.

        With `fake`, the client talks to it in process. The async client lives on one event
        loop for the whole session, as it would in an application.
        """
        kwargs.setdefault("retry", RETRY)
        kwargs.setdefault("rate_limit_per_minute", None)
        if fake is not None:
            kwargs["transport"] = (
                fake.transport() if self.kind == "sync" else fake.async_transport()
            )
        if self.kind == "sync":
            with ConnectWiseClient(base_url, credentials, **kwargs) as client:
                yield lambda op: _collect(op(client))
            return
        loop = asyncio.new_event_loop()
        client = AsyncConnectWiseClient(base_url, credentials, **kwargs)
        try:
            yield lambda op: loop.run_until_complete(_finish(op(client)))
        finally:
            loop.run_until_complete(client.aclose())
            loop.close()


Call = Callable[[Callable[[Any], Any]], Any]


def load_file(path: Path) -> ModuleType:
    """The Python file `path` (a script, an example) loaded as a module of its file's name, and
    registered so that what it defines can be pickled and found again."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _collect(result: Any) -> Any:
    return list(result) if inspect.isgenerator(result) else result


async def _finish(result: Any) -> Any:
    if inspect.isawaitable(result):
        return await result
    if hasattr(result, "__aiter__"):
        return [item async for item in result]
    return result


@pytest.fixture(autouse=True, scope="session")
def subprocess_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """What every program a test starts inherits: lock files under a private $XDG_STATE_HOME
    (never the user's), and testing mode (no SDK wait takes real time)."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ[waits.TESTING_ENVIRONMENT_VARIABLE] = "1"


@pytest.fixture(autouse=True)
def no_real_waits() -> Iterator[None]:
    """No test sleeps for real: backoff, Retry-After and settle waits take no time."""
    set_testing(True)
    yield
    set_testing(True)


@pytest.fixture
def clock() -> VirtualClock:
    """Virtual time: every SDK wait moves this clock (give it to a simulator as well)."""
    virtual = VirtualClock()
    set_testing(True, clock=virtual)
    return virtual


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Api:
    """The same test against `ConnectWiseClient` and `AsyncConnectWiseClient`."""
    return Api(request.param)


@pytest.fixture
def fake() -> FakeConnectWise:
    """An empty simulator whose first API member is `fake.credentials`."""
    simulator = FakeConnectWise(seed=1)
    simulator.add_api_member()
    return simulator


@pytest.fixture(autouse=True)
def simulator_conformance(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every simulator a test creates must only accept requests the contract allows and only
    answer with bodies the contract describes."""
    created: list[FakeConnectWise] = []
    original_init = FakeConnectWise.__init__

    def recording_init(self: FakeConnectWise, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(FakeConnectWise, "__init__", recording_init)
    yield
    problems: list[str] = []
    for simulator in created:
        for entry in simulator.request_log:
            if entry.status is None:
                continue
            if entry.content_type and "json" not in entry.content_type:
                continue  # an injected HTML page: deliberately not ConnectWise's format
            if entry.fault == "redirect":
                continue  # an injected redirect: deliberately not ConnectWise's answer
            body = convert.loads(entry.response_body) if entry.response_body else None
            partial = bool(entry.query.get("fields"))
            if not simulator.off_contract:  # set_raw broke the records on purpose
                problems += contract_check.response_errors(
                    entry.method, entry.api_path, entry.status, body, partial=partial
                )
            if 200 <= entry.status < 300 and not entry.api_path.startswith("/login/"):
                problems += contract_check.request_errors(
                    entry.method, entry.api_path, entry.query, entry.header_names, entry.body
                )
    if problems:
        pytest.fail("simulator left the contract:\n" + "\n".join(sorted(set(problems))[:30]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_server() -> str | None:
    found = shutil.which("redis-server")
    local = Path(sys.executable).parent / "redis-server"
    return found or (str(local) if local.exists() else None)


def start_redis_server() -> tuple[str, subprocess.Popen[bytes]]:
    """A real redis-server of its own on 127.0.0.1 and a free port, answering pings: its URL
    and its process (the caller stops it). Skips the test when there is none, or it does not
    start."""
    import redis

    binary = _redis_server()
    if binary is None:
        pytest.skip("redis-server is not installed (make test installs it): Redis tests skipped")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return url, server
            except redis.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.skip(f"redis-server at {binary} did not start: Redis tests skipped")
                time.sleep(0.02)  # the server is starting: real time, not a backoff
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on 127.0.0.1 and a free port, for this test session only."""
    url, server = start_redis_server()
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A client of the session's Redis, emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()
