"""Locks that keep two syncs off one agreement at the same time.

A sync reads an agreement's additions, decides, and writes. Two syncs doing that at once (the
interval run and an "Update Now", two cron jobs, two workers) both see an addition missing and
both create it: the customer is billed twice. So a sync holds a lock per agreement from the read
of its additions to its last write; a run that cannot get the lock within the lock's `wait`
reports the agreement as `"busy"` and leaves it alone.

- [`InProcessLock`][connectwise_billing.locks.InProcessLock], the default, reaches the threads
  and asyncio tasks of one process: one process syncs (a web app's scheduler and its "Update
  Now" button).
- [`FileLock`][connectwise_billing.locks.FileLock] reaches the processes of one host: cron and a
  manual run on one server. The command line's default.
- [`RedisLock`][connectwise_billing.locks.RedisLock] reaches every worker that shares a Redis:
  job queues, several servers (`pip install 'connectwise-billing[redis]'`).

Each implements [`Lock`][connectwise_billing.locks.Lock]; your own (a database advisory lock, a
ZooKeeper node) needs its `ttl` and its six methods.

A lock with a lifetime (`ttl`) could run out while a slow agreement (a throttled night) is still
being synced, and let a second run in. So the sync holds each lock through a
[`Lease`][connectwise_billing.locks.Lease]: renewed in the background every third of its
lifetime, and checked (renewed at once) before every write; a run that lost its lock writes
nothing more there and reports the agreement `"busy"`.

The key of an agreement's lock names the PSA tenant and the agreement
([`lock_key`][connectwise_billing.locks.lock_key]), never the URL a run reached it by: every
spelling of the host meets on one lock.

Locks wait in real time, also in testing mode: they wait for other runs, not for a server.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, runtime_checkable

from connectwise_billing.errors import ConfigurationError, LockError

DEFAULT_TTL: Final = 300.0
"""Seconds a lock lives unless renewed: how long a crashed or hung worker keeps an agreement."""
DEFAULT_WAIT: Final = 30.0
"""Seconds a sync waits for an agreement another run is syncing before reporting it busy."""
POLL_INTERVAL: Final = 0.05
"""Seconds between attempts while waiting for a lock held elsewhere."""
REDIS_PREFIX: Final = "connectwise-billing:lock:"
"""What `RedisLock` puts before every key by default."""

__all__ = [
    "DEFAULT_TTL",
    "DEFAULT_WAIT",
    "POLL_INTERVAL",
    "REDIS_PREFIX",
    "FileLock",
    "InProcessLock",
    "Lease",
    "Lock",
    "RedisLock",
    "lock_key",
]


def lock_key(scope: str, agreement_id: int) -> str:
    """The key of one agreement's lock: the PSA tenant (`BillingBackend.scope`, for ConnectWise
    `connectwise/<login company id>`) and the agreement. Every run against that tenant, however
    it spells the host or the URL, builds the same key."""
    return f"connectwise-billing/{scope}/agreement/{agreement_id}"


@runtime_checkable
class Lock(Protocol):
    """Mutual exclusion by key, with a time to live, for threads and for asyncio.

    `acquire` returns a token (any string) when the lock is had, or `None` when another holder
    kept it for longer than `wait` seconds. `release` gives it back, and does nothing when the
    token no longer holds the lock (it expired and someone else took it). `renew` extends a held
    lock for another `ttl` and says whether `token` still holds it: it is the fencing check a
    sync makes before every write. `ttl` and `wait` are seconds; `None` means the lock's own
    defaults.

    An `acquire` that is interrupted (Ctrl-C, a cancelled task) leaves nothing held.
    """

    @property
    def ttl(self) -> float | None:
        """Seconds a lock lives unless renewed; `None` for a lock held until it is released
        (or its holder ends)."""

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock for `key`, waiting up to `wait` seconds; the token, or `None`."""

    def release(self, key: str, token: str) -> None:
        """Give the lock for `key` back, if `token` still holds it."""

    def renew(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Extend the lock for `key` by `ttl` if `token` still holds it; whether it does."""

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """The asyncio twin of `acquire`: waiting never blocks the event loop."""

    async def release_async(self, key: str, token: str) -> None:
        """The asyncio twin of `release`."""

    async def renew_async(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """The asyncio twin of `renew`."""


class Lease:
    """A lock held on one key while a sync works under it: renewed in the background, checked
    before every write, released at the end.

    Use it as a context manager: `with Lease(lock, key, token):` renews from a thread (for the
    sync functions), `async with` from a task. While held, it renews every third of the lock's
    `ttl` (a lock without one needs no renewal). Giving the lock back at the end never raises
    over what happened inside: a failure is kept in `release_failed`.
    [`check`][connectwise_billing.locks.Lease.check] renews at once and says whether the lock
    is still held; once it is not (it expired, another run took it, renewing failed), `lost`
    says why and stays set.

    Args:
        lock: The lock that was acquired.
        key: The key it was acquired for.
        token: The token `acquire` returned.
    """

    def __init__(self, lock: Lock, key: str, token: str) -> None:
        self.lock = lock
        """The lock."""
        self.key = key
        """The key held."""
        self.token = token
        """The token that holds it."""
        self.lost: str | None = None
        """Why the lock is no longer held, once a renewal or check found so."""
        self.release_failed: str | None = None
        """Why giving the lock back failed, if it did (a lock with a lifetime then frees itself
        when its `ttl` runs out)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: Any = None

    def __repr__(self) -> str:
        state = f"lost: {self.lost}" if self.lost else "held"
        return f"Lease({self.key!r}, {state})"

    @property
    def interval(self) -> float | None:
        """Seconds between background renewals (a third of the lock's `ttl`), or `None`."""
        ttl = self.lock.ttl
        return None if ttl is None else ttl / 3

    def _note(self, held: bool | BaseException) -> bool:
        if self.lost is None and held is not True:
            self.lost = (
                f"renewing the agreement's lock failed ({held})"
                if isinstance(held, BaseException)
                else "the agreement's lock expired or was taken by another run"
            )
        return self.lost is None

    def check(self) -> bool:
        """Renew now; whether the lock is still held (the fencing check before a write)."""
        if self.lost is not None:
            return False
        try:
            held: bool | BaseException = self.lock.renew(self.key, self.token)
        except Exception as error:  # a lock that cannot say it is held is not held
            held = error
        return self._note(held)

    async def acheck(self) -> bool:
        """The asyncio twin of [`check`][connectwise_billing.locks.Lease.check]."""
        if self.lost is not None:
            return False
        try:
            held: bool | BaseException = await self.lock.renew_async(self.key, self.token)
        except Exception as error:
            held = error
        return self._note(held)

    def _renew_in_background(self, interval: float) -> None:
        while not self._stop.wait(interval) and self.check():
            pass

    def __enter__(self) -> Lease:
        interval = self.interval
        if interval is not None:
            self._thread = threading.Thread(
                target=self._renew_in_background,
                args=(interval,),
                name=f"renew {self.key}",
                daemon=True,
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.lock.release(self.key, self.token)
        except Exception as failure:  # never over the agreement's outcome
            self.release_failed = str(failure)

    async def _arenew_in_background(self, interval: float) -> None:
        import asyncio

        while True:
            await asyncio.sleep(interval)
            if not await self.acheck():
                return

    async def __aenter__(self) -> Lease:
        import asyncio

        interval = self.interval
        if interval is not None:
            self._task = asyncio.create_task(self._arenew_in_background(interval))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        import asyncio

        try:
            if self._task is not None:
                self._task.cancel()
                # Waits for the renewal to end without taking its cancellation for ours: a
                # caller cancelled meanwhile is still cancelled.
                await asyncio.wait([self._task])
        finally:
            try:
                await self.lock.release_async(self.key, self.token)
            except Exception as failure:
                self.release_failed = str(failure)


def _seconds(value: float, what: str, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"lock {what} must be a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        limit = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"lock {what} must be {limit} seconds, got {value!r}")
    return float(value)


class _Timing:
    """`ttl` and `wait`, checked, with per-call overrides."""

    def __init__(self, ttl: float, wait: float) -> None:
        self.ttl = _seconds(ttl, "ttl", allow_zero=False)
        self.wait = _seconds(wait, "wait", allow_zero=True)

    def resolve(self, ttl: float | None, wait: float | None) -> tuple[float, float]:
        return (
            self.ttl if ttl is None else _seconds(ttl, "ttl", allow_zero=False),
            self.wait if wait is None else _seconds(wait, "wait", allow_zero=True),
        )


def _poll(try_once: Callable[[], str | None], wait: float) -> str | None:
    deadline = time.monotonic() + wait
    while True:
        token = try_once()
        if token is not None:
            return token
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(POLL_INTERVAL, left))


async def _apoll(try_once: Callable[[], Any], wait: float) -> str | None:
    import asyncio

    deadline = time.monotonic() + wait
    while True:
        token = try_once()
        if inspect.isawaitable(token):
            token = await token
        if token is not None:
            return str(token)
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(POLL_INTERVAL, left))


class _Registry:
    """The process-wide table behind every `InProcessLock`."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, float]] = {}
        self.changed = threading.Condition()

    def try_take(self, key: str, ttl: float) -> str | None:
        with self.changed:
            now = time.monotonic()
            current = self.held.get(key)
            if current is not None and current[1] > now:
                return None
            token = uuid.uuid4().hex
            self.held[key] = (token, now + ttl)
            return token

    def expires_in(self, key: str) -> float:
        """Seconds until the current holder's lock expires (0 when it is free)."""
        with self.changed:
            current = self.held.get(key)
            return max(0.0, current[1] - time.monotonic()) if current else 0.0

    def extend(self, key: str, token: str, ttl: float) -> bool:
        # Still ours even when past its expiry: nobody took it (taking it replaces the entry).
        with self.changed:
            current = self.held.get(key)
            if current is None or current[0] != token:
                return False
            self.held[key] = (token, time.monotonic() + ttl)
            return True

    def give_back(self, key: str, token: str) -> None:
        with self.changed:
            current = self.held.get(key)
            if current is not None and current[0] == token:
                del self.held[key]
                self.changed.notify_all()


_REGISTRY: Final = _Registry()


class InProcessLock:
    """One lock table for the whole process: every `InProcessLock()` shares it, so two threads,
    two asyncio tasks or two concurrent `sync_all` calls never work on one agreement at once.

    Args:
        ttl: Seconds after which a lock that was never released (nor renewed) frees itself.
        wait: Seconds `acquire` waits for a lock held by another run.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, wait: float = DEFAULT_WAIT) -> None:
        self._timing = _Timing(ttl, wait)

    def __repr__(self) -> str:
        return f"InProcessLock(ttl={self._timing.ttl:g}, wait={self._timing.wait:g})"

    @property
    def ttl(self) -> float:
        """Seconds a lock lives unless renewed."""
        return self._timing.ttl

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock for `key`, waiting up to `wait` seconds; the token, or `None`."""
        ttl, wait = self._timing.resolve(ttl, wait)
        deadline = time.monotonic() + wait
        with _REGISTRY.changed:
            while True:
                token = _REGISTRY.try_take(key, ttl)
                if token is not None:
                    return token
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                # Woken when a holder releases, or when its lock expires.
                _REGISTRY.changed.wait(min(left, _REGISTRY.expires_in(key) or POLL_INTERVAL))

    def release(self, key: str, token: str) -> None:
        """Give the lock for `key` back, if `token` still holds it."""
        _REGISTRY.give_back(key, token)

    def renew(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Extend the lock by `ttl` if `token` still holds it; whether it does."""
        return _REGISTRY.extend(key, token, self._timing.resolve(ttl, None)[0])

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock without blocking the event loop (it polls)."""
        ttl, wait = self._timing.resolve(ttl, wait)
        return await _apoll(lambda: _REGISTRY.try_take(key, ttl), wait)

    async def release_async(self, key: str, token: str) -> None:
        """Give the lock back."""
        _REGISTRY.give_back(key, token)

    async def renew_async(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Extend the lock; whether `token` still holds it."""
        return self.renew(key, token, ttl=ttl)


_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]+")


class FileLock:
    """A lock file per key in `directory`, locked with the operating system's `flock`: it
    reaches every process on the host that uses the same directory (cron and a manual run).

    The operating system releases the lock when the holding process ends, so a crashed run
    never blocks the next one: it has no lifetime (`ttl` is `None`; a `ttl` passed to `acquire`
    is ignored) and needs no renewal. The lock files stay in the directory (a few bytes each;
    deleting a lock file while it is in use would let two holders in). POSIX only (Linux, macOS,
    BSD).

    Args:
        directory: Where the lock files live; created if missing. Every run that must exclude
            the others has to use the same directory.
        wait: Seconds `acquire` waits for a lock held by another run.
    """

    ttl: Final[None] = None
    """A file lock lives until it is released or its process ends."""

    def __init__(self, directory: str | os.PathLike[str], *, wait: float = DEFAULT_WAIT) -> None:
        try:
            import fcntl  # noqa: F401 - POSIX only: fail at construction, not at the first sync
        except ImportError:
            raise ConfigurationError("FileLock needs POSIX file locks (flock)") from None
        self.directory = Path(directory)
        """Where the lock files live."""
        self._timing = _Timing(DEFAULT_TTL, wait)
        self._held: dict[str, int] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"FileLock({str(self.directory)!r}, wait={self._timing.wait:g})"

    def path_for(self, key: str) -> Path:
        """The lock file of `key`: readable, and unique through a hash of the whole key."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        readable = _UNSAFE_NAME.sub("-", key)[-60:].strip("-.")
        return self.directory / f"{readable}.{digest}.lock"

    def _try_take(self, key: str) -> str | None:
        import fcntl

        path = self.path_for(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            try:
                # Readable by every user that shares the directory (cron's, a person's): a lock
                # file left by one must not keep the other out. flock needs no write access.
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:
                descriptor = os.open(path, os.O_RDONLY)
        except OSError as error:
            raise LockError(
                f"cannot use the lock directory {str(self.directory)!r}: {error.strerror}"
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            return None
        except BaseException:
            os.close(descriptor)
            raise
        token = uuid.uuid4().hex
        try:
            with contextlib.suppress(OSError):  # a note for people; read-only for another user
                os.ftruncate(descriptor, 0)
                os.write(descriptor, f"{key}\npid {os.getpid()}\n".encode())
            with self._guard:
                self._held[token] = descriptor
        except BaseException:
            # Interrupted, or the disk refused the note: closing the file lets the lock go.
            os.close(descriptor)
            raise
        return token

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock for `key`, waiting up to `wait` seconds; the token, or `None`."""
        _, wait = self._timing.resolve(ttl, wait)
        return _poll(lambda: self._try_take(key), wait)

    def release(self, key: str, token: str) -> None:
        """Unlock and close the lock file (it stays in the directory); closing it lets the
        lock go whatever else fails."""
        import fcntl

        with self._guard:
            descriptor = self._held.pop(token, None)
        if descriptor is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            finally:
                os.close(descriptor)

    def renew(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Whether `token` still holds the lock (its file is open: nothing to extend)."""
        with self._guard:
            return token in self._held

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock without blocking the event loop (it polls)."""
        _, wait = self._timing.resolve(ttl, wait)
        return await _apoll(lambda: self._try_take(key), wait)

    async def release_async(self, key: str, token: str) -> None:
        """Give the lock back."""
        self.release(key, token)

    async def renew_async(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Whether `token` still holds the lock."""
        return self.renew(key, token)


# Both act only while the key still holds our token: a lock that expired and was taken by
# another worker is neither released nor extended by us.
_RELEASE_SCRIPT: Final = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""
_RENEW_SCRIPT: Final = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisLock:
    """A lock in Redis (`SET key token NX PX ttl`), shared by every worker that uses that Redis:
    job-queue workers, several servers, processes on any host.

    Args:
        redis_client: A redis-py client: `redis.Redis` for `sync_all`, or `redis.asyncio.Redis`
            (or a `redis.Redis`, used from a thread) for `async_sync_all`.
        prefix: Put before every key, to keep the locks apart from other data.
        ttl: Seconds after which a lock whose holder died frees itself. A sync renews the locks
            it holds every third of it, so a slow agreement never outlives its lock; a short
            `ttl` frees the agreements of a crashed worker sooner.
        wait: Seconds `acquire` waits for a lock held by another worker.

    Install the extra: `pip install 'connectwise-billing[redis]'`.
    """

    def __init__(
        self,
        redis_client: Any,
        *,
        prefix: str = REDIS_PREFIX,
        ttl: float = DEFAULT_TTL,
        wait: float = DEFAULT_WAIT,
    ) -> None:
        if not callable(getattr(redis_client, "set", None)):
            raise ConfigurationError(
                f"RedisLock needs a redis-py client, got {type(redis_client).__name__}"
            )
        self.redis = redis_client
        """The Redis client the lock keys live in."""
        self.prefix = prefix
        """Put before every key."""
        self._timing = _Timing(ttl, wait)
        self._is_async = inspect.iscoroutinefunction(getattr(redis_client, "execute_command", None))

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisLock:
        """A lock on the Redis at `url` (`redis://host:6379/0`), with a new sync client."""
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "RedisLock needs redis-py: pip install 'connectwise-billing[redis]'"
            ) from None
        try:
            client = redis.Redis.from_url(url)
        except ValueError as error:
            scheme = url.partition("://")[0] or url[:10]
            raise ConfigurationError(
                f"the Redis URL (scheme {scheme!r}) cannot be used: {error}; write "
                "redis://host:6379/0"
            ) from None
        return cls(client, **options)

    def __repr__(self) -> str:
        return (
            f"RedisLock(prefix={self.prefix!r}, ttl={self._timing.ttl:g}, "
            f"wait={self._timing.wait:g})"
        )

    @property
    def ttl(self) -> float:
        """Seconds a lock lives unless renewed."""
        return self._timing.ttl

    def _sync_client(self) -> Any:
        if self._is_async:
            raise ConfigurationError(
                "this RedisLock has an asyncio Redis client: use it with async_sync_all, or give "
                "sync_all a redis.Redis"
            )
        return self.redis

    def _call(self, name: str, *arguments: Any, **options: Any) -> Any:
        """A command on the sync client; Redis failing (down, gone, timing out) is a
        `LockError`."""
        method = getattr(self._sync_client(), name)
        try:
            return method(*arguments, **options)
        except Exception as error:
            raise LockError(f"Redis failed: {error}") from error

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock for `key`, waiting up to `wait` seconds; the token, or `None`."""
        ttl, wait = self._timing.resolve(ttl, wait)
        self._sync_client()
        token = uuid.uuid4().hex

        def try_once() -> str | None:
            try:
                taken = self._call("set", self.prefix + key, token, nx=True, px=_milliseconds(ttl))
            except BaseException:
                # Failed or interrupted with the command sent: it may have set the key.
                with contextlib.suppress(Exception):
                    self.release(key, token)
                raise
            return token if taken else None

        return _poll(try_once, wait)

    def release(self, key: str, token: str) -> None:
        """Delete the key if `token` still holds it.

        Raises:
            LockError: Redis failed.
        """
        self._call("eval", _RELEASE_SCRIPT, 1, self.prefix + key, token)

    def renew(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Extend the key's expiry by `ttl` if `token` still holds it; whether it does.

        Raises:
            LockError: Redis failed.
        """
        ttl = self._timing.resolve(ttl, None)[0]
        return bool(
            self._call("eval", _RENEW_SCRIPT, 1, self.prefix + key, token, _milliseconds(ttl))
        )

    async def _command(self, name: str, *arguments: Any, **options: Any) -> Any:
        """Run a command with either kind of client without blocking the event loop; when the
        caller is cancelled, the command still completes before the cancellation goes on, so
        its effect is known. Redis failing is a `LockError`."""
        import asyncio

        method = getattr(self.redis, name)
        if self._is_async:
            pending: Awaitable[Any] = method(*arguments, **options)
        else:
            pending = asyncio.to_thread(method, *arguments, **options)
        command = asyncio.ensure_future(pending)
        try:
            return await asyncio.shield(command)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await command
            raise
        except Exception as error:
            raise LockError(f"Redis failed: {error}") from error

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock without blocking the event loop."""
        ttl, wait = self._timing.resolve(ttl, wait)
        token = uuid.uuid4().hex

        async def try_once() -> str | None:
            try:
                taken = await self._command(
                    "set", self.prefix + key, token, nx=True, px=_milliseconds(ttl)
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.release_async(key, token)
                raise
            return token if taken else None

        return await _apoll(try_once, wait)

    async def release_async(self, key: str, token: str) -> None:
        """Delete the key if `token` still holds it."""
        await self._command("eval", _RELEASE_SCRIPT, 1, self.prefix + key, token)

    async def renew_async(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        """Extend the key's expiry if `token` still holds it; whether it does."""
        ttl = self._timing.resolve(ttl, None)[0]
        script = (_RENEW_SCRIPT, 1, self.prefix + key, token, _milliseconds(ttl))
        return bool(await self._command("eval", *script))
