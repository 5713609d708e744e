"""`RedisLock`: one lock for every worker that shares a Redis (the `redis` extra)."""

from __future__ import annotations

import inspect
import uuid
from typing import Any, Final

from connectwise_billing.errors import ConfigurationError
from connectwise_billing.locks import (
    DEFAULT_TTL,
    DEFAULT_WAIT,
    REDIS_PREFIX,
    _apoll,
    _poll,
    _Timing,
)

_RELEASE_SCRIPT: Final = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


class RedisLock:
    """A lock in Redis (`SET key token NX PX ttl`), shared by every worker that uses that Redis:
    job-queue workers, several servers, processes on any host.

    Args:
        redis_client: A redis-py client: `redis.Redis` for `sync_all`, or `redis.asyncio.Redis`
            (or a `redis.Redis`, used from a thread) for `async_sync_all`.
        prefix: Put before every key, to keep the locks apart from other data.
        ttl: Seconds after which a lock whose holder died frees itself. Make it longer than one
            agreement's sync can take (its reads, writes and settle re-reads).
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
        return cls(redis.Redis.from_url(url), **options)

    def __repr__(self) -> str:
        return (
            f"RedisLock(prefix={self.prefix!r}, ttl={self._timing.ttl:g}, "
            f"wait={self._timing.wait:g})"
        )

    def _sync_client(self) -> Any:
        if self._is_async:
            raise ConfigurationError(
                "this RedisLock has an asyncio Redis client: use it with async_sync_all, or give "
                "sync_all a redis.Redis"
            )
        return self.redis

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock for `key`, waiting up to `wait` seconds; the token, or `None`."""
        ttl, wait = self._timing.resolve(ttl, wait)
        client = self._sync_client()
        token = uuid.uuid4().hex

        def try_once() -> str | None:
            taken = client.set(self.prefix + key, token, nx=True, px=max(1, round(ttl * 1000)))
            return token if taken else None

        return _poll(try_once, wait)

    def release(self, key: str, token: str) -> None:
        """Delete the key if `token` still holds it."""
        self._sync_client().eval(_RELEASE_SCRIPT, 1, self.prefix + key, token)

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        """Take the lock without blocking the event loop."""
        import asyncio

        ttl, wait = self._timing.resolve(ttl, wait)
        token = uuid.uuid4().hex
        arguments = (self.prefix + key, token)
        options = {"nx": True, "px": max(1, round(ttl * 1000))}

        async def try_once() -> str | None:
            if self._is_async:
                taken = await self.redis.set(*arguments, **options)
            else:
                taken = await asyncio.to_thread(self.redis.set, *arguments, **options)
            return token if taken else None

        return await _apoll(try_once, wait)

    async def release_async(self, key: str, token: str) -> None:
        """Delete the key if `token` still holds it."""
        import asyncio

        if self._is_async:
            await self.redis.eval(_RELEASE_SCRIPT, 1, self.prefix + key, token)
        else:
            await asyncio.to_thread(self.redis.eval, _RELEASE_SCRIPT, 1, self.prefix + key, token)
