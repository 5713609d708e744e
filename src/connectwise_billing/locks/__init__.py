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
ZooKeeper node) only needs its four methods.

Locks wait in real time, also in testing mode: they wait for other runs, not for a server.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from connectwise_billing.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_TTL: Final = 300.0
"""Seconds a lock lives if its holder never releases it (a crashed or hung worker)."""
DEFAULT_WAIT: Final = 30.0
"""Seconds a sync waits for an agreement another run is syncing before reporting it busy."""
POLL_INTERVAL: Final = 0.05
"""Seconds between attempts while waiting for a lock held elsewhere."""
REDIS_PREFIX: Final = "connectwise-billing:lock:"

__all__ = [
    "DEFAULT_TTL",
    "DEFAULT_WAIT",
    "POLL_INTERVAL",
    "REDIS_PREFIX",
    "FileLock",
    "InProcessLock",
    "Lock",
    "RedisLock",
]


@runtime_checkable
class Lock(Protocol):
    """Mutual exclusion by key, with a time to live, for threads and for asyncio.

    `acquire` returns a token (any string) when the lock is had, or `None` when another holder
    kept it for longer than `wait` seconds. `release` gives it back, and does nothing when the
    token no longer holds the lock (it expired and someone else took it). `ttl` and `wait` are
    seconds; `None` means the lock's own defaults.
    """

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock for `key`, waiting up to `wait` seconds; the token, or `None`."""

    def release(self, key: str, token: str) -> None:
        """Give the lock for `key` back, if `token` still holds it."""

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """The asyncio twin of `acquire`: waiting never blocks the event loop."""

    async def release_async(self, key: str, token: str) -> None:
        """The asyncio twin of `release`."""


def _seconds(value: float, what: str, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
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
        ttl: Seconds after which a lock that was never released frees itself.
        wait: Seconds `acquire` waits for a lock held by another run.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, wait: float = DEFAULT_WAIT) -> None:
        self._timing = _Timing(ttl, wait)

    def __repr__(self) -> str:
        return f"InProcessLock(ttl={self._timing.ttl:g}, wait={self._timing.wait:g})"

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

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock without blocking the event loop (it polls)."""
        ttl, wait = self._timing.resolve(ttl, wait)
        return await _apoll(lambda: _REGISTRY.try_take(key, ttl), wait)

    async def release_async(self, key: str, token: str) -> None:
        """Give the lock back."""
        _REGISTRY.give_back(key, token)


_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]+")


class FileLock:
    """A lock file per key in `directory`, locked with the operating system's `flock`: it
    reaches every process on the host that uses the same directory (cron and a manual run).

    The operating system releases the lock when the holding process ends, so a crashed run
    never blocks the next one and no TTL is needed (`ttl` is accepted and ignored). The lock
    files stay in the directory (a few bytes each; deleting a lock file while it is in use would
    let two holders in). POSIX only (Linux, macOS, BSD).

    Args:
        directory: Where the lock files live; created if missing. Every run that must exclude
            the others has to use the same directory.
        wait: Seconds `acquire` waits for a lock held by another run.
    """

    def __init__(self, directory: str | os.PathLike[str], *, wait: float = DEFAULT_WAIT) -> None:
        try:
            import fcntl  # noqa: F401 - POSIX only: fail at construction, not at the first sync
        except ImportError:
            raise ConfigurationError("FileLock needs POSIX file locks (flock)") from None
        self.directory = Path(directory)
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

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path_for(key), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise ConfigurationError(
                f"cannot use the lock directory {str(self.directory)!r}: {error.strerror}"
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            return None
        token = uuid.uuid4().hex
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{key}\npid {os.getpid()}\n".encode())
        with self._guard:
            self._held[token] = descriptor
        return token

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock for `key`, waiting up to `wait` seconds; the token, or `None`."""
        _, wait = self._timing.resolve(ttl, wait)
        return _poll(lambda: self._try_take(key), wait)

    def release(self, key: str, token: str) -> None:
        """Unlock and close the lock file (it stays in the directory)."""
        import fcntl

        with self._guard:
            descriptor = self._held.pop(token, None)
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock without blocking the event loop (it polls)."""
        _, wait = self._timing.resolve(ttl, wait)
        return await _apoll(lambda: self._try_take(key), wait)

    async def release_async(self, key: str, token: str) -> None:
        """Give the lock back."""
        self.release(key, token)


# Delete the key only if it still holds our token: a lock that expired and was taken by
# another worker must not be released by us.


# Imported last: RedisLock builds on the timing and polling above.
from connectwise_billing.locks._redis import RedisLock  # noqa: E402
