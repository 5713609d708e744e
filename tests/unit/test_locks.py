"""The three locks: one holder per key, across threads, tasks, processes and Redis clients."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectwise_billing import ConfigurationError
from connectwise_billing.errors import LockError
from connectwise_billing.locks import REDIS_PREFIX, FileLock, InProcessLock, Lease, Lock, RedisLock


def key() -> str:
    return f"connectwise-billing/test/{uuid.uuid4().hex}"


@pytest.fixture(params=["in-process", "file", "redis"])
def make_lock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Lock]]:
    """Builds locks of one kind that share their state (a registry, a directory, a Redis)."""
    if request.param == "in-process":
        yield lambda **kw: InProcessLock(**kw)
    elif request.param == "file":
        yield lambda **kw: FileLock(
            tmp_path / "locks", **{k: v for k, v in kw.items() if k != "ttl"}
        )
    else:
        client = request.getfixturevalue("redis_client")
        yield lambda **kw: RedisLock(client, **kw)


def test_locks_follow_the_protocol(make_lock: Callable[..., Lock]) -> None:
    assert isinstance(make_lock(), Lock)


def test_one_holder_per_key_until_released(make_lock: Callable[..., Lock]) -> None:
    first, second = make_lock(wait=0), make_lock(wait=0)
    name = key()
    token = first.acquire(name)
    assert token is not None
    assert second.acquire(name) is None
    assert second.acquire(key()) is not None  # other keys are free
    first.release(name, token)
    assert second.acquire(name) is not None


def test_a_waiting_acquire_gets_the_lock_once_it_is_released(
    make_lock: Callable[..., Lock],
) -> None:
    holder, waiter = make_lock(), make_lock()
    name = key()
    token = holder.acquire(name)
    assert token is not None
    threading.Timer(0.05, holder.release, (name, token)).start()
    assert waiter.acquire(name, wait=5) is not None


def test_releasing_with_a_stale_token_does_nothing(make_lock: Callable[..., Lock]) -> None:
    lock = make_lock(wait=0)
    name = key()
    token = lock.acquire(name)
    assert token is not None
    lock.release(name, "not-the-token")
    assert make_lock(wait=0).acquire(name) is None


def test_async_twins(make_lock: Callable[..., Lock]) -> None:
    async def main() -> tuple[Any, Any, Any]:
        first, second = make_lock(wait=0), make_lock(wait=0)
        name = key()
        token = await first.acquire_async(name)
        refused = await second.acquire_async(name)
        assert token is not None
        await first.release_async(name, token)
        return token, refused, await second.acquire_async(name)

    token, refused, again = asyncio.run(main())
    assert token is not None and refused is None and again is not None


def test_waiting_does_not_block_the_event_loop() -> None:
    lock = InProcessLock()
    name = key()
    token = lock.acquire(name)
    assert token is not None

    async def main() -> str | None:
        async def release_soon() -> None:
            await asyncio.sleep(0.05)
            lock.release(name, token)

        releaser = asyncio.create_task(release_soon())
        got = await lock.acquire_async(name, wait=5)
        await releaser
        return got

    assert asyncio.run(main()) is not None


@pytest.mark.parametrize("kind", ["in-process", "redis"])
def test_a_lock_that_is_never_released_expires_after_its_ttl(
    kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "redis":
        client = request.getfixturevalue("redis_client")
        holder: Lock = RedisLock(client, ttl=0.05)
        waiter: Lock = RedisLock(client)
    else:
        holder, waiter = InProcessLock(ttl=0.05), InProcessLock()
    name = key()
    assert holder.acquire(name) is not None  # and its holder "crashes"
    started = time.monotonic()
    assert waiter.acquire(name, wait=5) is not None
    assert time.monotonic() - started < 2


def test_a_file_lock_is_freed_when_its_process_dies(tmp_path: Path) -> None:
    name = key()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from connectwise_billing.locks import FileLock\n"
            f"assert FileLock({str(tmp_path)!r}).acquire({name!r})\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert FileLock(tmp_path, wait=0).acquire(name) is None  # another process holds it
        holder.kill()  # a crash: nothing releases the lock but the operating system
        holder.wait()
        assert FileLock(tmp_path, wait=5).acquire(name) is not None
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_file_lock_names_are_readable_and_distinct(tmp_path: Path) -> None:
    lock = FileLock(tmp_path)
    one = lock.path_for("connectwise-billing/api-na.myconnectwise.net/mymsp/agreement/1056")
    other = lock.path_for("connectwise-billing/api-na.myconnectwise.net/mymsp/agreement/1057")
    assert one != other and one.parent == tmp_path
    assert "agreement-1056" in one.name


def test_a_file_lock_directory_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(LockError, match="a-file"):
        FileLock(blocker / "locks").acquire(key())


def test_redis_async_client(redis_url: str) -> None:
    import redis.asyncio

    async def main() -> tuple[str | None, str | None]:
        client = redis.asyncio.Redis.from_url(redis_url)
        lock = RedisLock(client, wait=0)
        name = key()
        token = await lock.acquire_async(name)
        refused = await lock.acquire_async(name)
        assert token is not None
        await lock.release_async(name, token)
        again = await lock.acquire_async(name)
        await client.aclose()
        return refused, again

    refused, again = asyncio.run(main())
    assert refused is None and again is not None


def test_redis_async_client_is_refused_by_the_sync_methods(redis_url: str) -> None:
    import redis.asyncio

    lock = RedisLock(redis.asyncio.Redis.from_url(redis_url))
    with pytest.raises(ConfigurationError, match="asyncio Redis client"):
        lock.acquire(key())


def test_redis_lock_keys_carry_the_prefix(redis_client: Any) -> None:
    lock = RedisLock(redis_client, prefix="panel-7:")
    name = key()
    token = lock.acquire(name)
    assert redis_client.get(f"panel-7:{name}").decode() == token
    assert 0 < redis_client.pttl(f"panel-7:{name}") <= 300_000


def test_redis_lock_from_url(redis_url: str) -> None:
    lock = RedisLock.from_url(redis_url, wait=0)
    name = key()
    assert lock.acquire(name) is not None
    assert lock.acquire(name) is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: InProcessLock(ttl=0), "ttl must be > 0"),
        (lambda: InProcessLock(wait=-1), "wait must be >= 0"),
        (lambda: InProcessLock(wait="soon"), "wait must be a number"),  # type: ignore[arg-type]
        (lambda: RedisLock(object()), "needs a redis-py client"),
    ],
)
def test_bad_settings_are_named(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build()


# --- renewal, the fencing check, interrupted acquires ----------------------------------------


@pytest.fixture(params=["in-process", "redis"])
def short_lived(request: pytest.FixtureRequest) -> Callable[..., Lock]:
    """Locks with a lifetime (a file lock has none): in process, and in a real Redis."""
    if request.param == "in-process":
        return lambda **kw: InProcessLock(**kw)
    client = request.getfixturevalue("redis_client")
    return lambda **kw: RedisLock(client, **kw)


def test_a_held_lease_outlives_its_locks_ttl(short_lived: Callable[..., Lock]) -> None:
    """Renewed every third of a 0.3 s lifetime: a holder working for 1 s keeps the lock."""
    lock, other = short_lived(ttl=0.3), short_lived(wait=0)
    name = key()
    token = lock.acquire(name)
    assert token is not None
    with Lease(lock, name, token) as lease:
        for _ in range(10):
            time.sleep(0.1)
            assert other.acquire(name) is None
        assert lease.check() and lease.lost is None
    assert other.acquire(name) is not None  # released at the end


def test_an_async_lease_outlives_its_locks_ttl(short_lived: Callable[..., Lock]) -> None:
    async def main() -> tuple[bool, str | None]:
        lock, other = short_lived(ttl=0.3), short_lived(wait=0)
        name = key()
        token = await lock.acquire_async(name)
        assert token is not None
        async with Lease(lock, name, token) as lease:
            for _ in range(10):
                await asyncio.sleep(0.1)
                assert await other.acquire_async(name) is None
            held = await lease.acheck()
        return held, await other.acquire_async(name)

    held, after = asyncio.run(main())
    assert held and after is not None


def test_without_renewal_the_lock_runs_out(short_lived: Callable[..., Lock]) -> None:
    """The fault a lease exists for: a lock held past its ttl is taken by another run."""
    lock, other = short_lived(ttl=0.2), short_lived(wait=0)
    name = key()
    token = lock.acquire(name)
    time.sleep(0.4)
    assert token is not None and other.acquire(name) is not None
    assert not Lease(lock, name, token).check()  # the fencing check sees it


def test_a_lease_whose_lock_was_taken_says_so_and_stays_lost(redis_client: Any) -> None:
    lock = RedisLock(redis_client, ttl=30)
    name = key()
    token = lock.acquire(name)
    assert token is not None
    lease = Lease(lock, name, token)
    assert lease.check()
    redis_client.set(REDIS_PREFIX + name, "someone-else")  # evicted, taken over
    assert not lease.check()
    assert lease.lost is not None and "taken by another run" in lease.lost
    redis_client.delete(REDIS_PREFIX + name)
    assert not lease.check()  # once lost, never held again
    lease.lock.release(name, token)
    assert redis_client.get(REDIS_PREFIX + name) is None


def test_a_lease_that_cannot_renew_is_lost() -> None:
    class Broken(InProcessLock):
        def renew(self, key: str, token: str, *, ttl: float | None = None) -> bool:
            raise ConnectionError("Redis went away")

    lock = Broken()
    name = key()
    token = lock.acquire(name)
    assert token is not None
    lease = Lease(lock, name, token)
    assert not lease.check()
    assert lease.lost is not None and "Redis went away" in lease.lost


def test_a_file_lock_has_no_lifetime_and_holds_until_released(tmp_path: Path) -> None:
    lock = FileLock(tmp_path)
    name = key()
    token = lock.acquire(name)
    assert lock.ttl is None and token is not None
    assert lock.renew(name, token)
    lock.release(name, token)
    assert not lock.renew(name, token)


class _Interrupting:
    """A redis client whose SET reaches the server, after which the caller is interrupted."""

    def __init__(self, client: Any, interrupt: BaseException) -> None:
        self.client = client
        self.interrupt = interrupt

    def set(self, *args: Any, **kwargs: Any) -> Any:
        self.client.set(*args, **kwargs)
        raise self.interrupt

    def eval(self, *args: Any) -> Any:
        return self.client.eval(*args)


def test_an_interrupted_acquire_leaves_no_key(redis_client: Any) -> None:
    lock = RedisLock(_Interrupting(redis_client, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        lock.acquire("interrupted")
    assert redis_client.keys("*") == []


def test_a_cancelled_async_acquire_leaves_no_key(redis_client: Any, redis_url: str) -> None:
    """Cancelled while its SET is on the wire (a slow Redis): the command completes, and the
    key it may have set is taken back, with either kind of client."""
    import redis.asyncio

    class Slow:
        def __init__(self, client: Any) -> None:
            self.client = client

        def set(self, *args: Any, **kwargs: Any) -> Any:
            time.sleep(0.2)  # on the wire: the SET lands after the caller gave up
            return self.client.set(*args, **kwargs)

        def eval(self, *args: Any) -> Any:
            return self.client.eval(*args)

    class AsyncSlow:
        def __init__(self, client: Any) -> None:
            self.client = client

        async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
            return await self.client.execute_command(*args, **kwargs)

        async def set(self, *args: Any, **kwargs: Any) -> Any:
            taken = await self.client.set(*args, **kwargs)
            await asyncio.sleep(0.2)  # applied; its answer is slow to come back
            return taken

        async def eval(self, *args: Any) -> Any:
            return await self.client.eval(*args)

    async def cancel_midway(lock: RedisLock) -> None:
        task = asyncio.create_task(lock.acquire_async("cancelled"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway(RedisLock(Slow(redis_client))))
    assert redis_client.keys("*") == []

    async def with_async_client() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        await cancel_midway(RedisLock(AsyncSlow(client)))
        await client.aclose()

    asyncio.run(with_async_client())
    assert redis_client.keys("*") == []


def test_an_interrupted_file_lock_acquire_lets_the_lock_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    lock = FileLock(tmp_path, wait=0)
    real = os.ftruncate

    def interrupted(descriptor: int, length: int) -> None:
        real(descriptor, length)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "ftruncate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lock.acquire("interrupted")
    monkeypatch.setattr(os, "ftruncate", real)
    assert FileLock(tmp_path, wait=0).acquire("interrupted") is not None


def test_a_lifetime_or_wait_that_is_not_finite_is_refused() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigurationError, match="must be a number of seconds"):
            InProcessLock(ttl=bad)
        with pytest.raises(ConfigurationError, match="must be a number of seconds"):
            InProcessLock(wait=bad)


def test_cancelling_a_run_while_its_lease_ends_still_cancels_it() -> None:
    """The caller's cancellation must not be taken for the renewal task's: a run cancelled
    while it lets go of an agreement stops, and the lock is released."""

    class SlowRenewal(InProcessLock):
        async def renew_async(self, key: str, token: str, *, ttl: float | None = None) -> bool:
            await asyncio.sleep(0.3)  # a slow Redis round trip
            return True

    lock = SlowRenewal(ttl=0.03)
    name = key()

    async def hold() -> None:
        token = await lock.acquire_async(name)
        assert token is not None
        async with Lease(lock, name, token):
            await asyncio.sleep(0.05)  # a renewal is now in flight
        await asyncio.sleep(5)  # the next agreement: never reached once cancelled

    async def main() -> float:
        task = asyncio.create_task(hold())
        await asyncio.sleep(0.08)  # inside __aexit__, waiting for the renewal to end
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(main()) < 1
    assert InProcessLock(wait=0).acquire(name) is not None


def test_a_lock_file_another_user_created_is_still_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cron's user created the lock file; a person may only read it. flock needs no more."""
    import os

    name = key()
    first = FileLock(tmp_path, wait=0)
    token = first.acquire(name)
    assert token is not None
    first.release(name, token)
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    other_user = FileLock(tmp_path, wait=0)
    token = other_user.acquire(name)
    assert token is not None
    assert FileLock(tmp_path, wait=0).acquire(name) is None  # and it excludes the others
    other_user.release(name, token)
