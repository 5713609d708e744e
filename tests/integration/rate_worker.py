"""Requests sent under a rate limit, in a process of its own, for the tests of one rate limit per
tenant across workers.

    python -m tests.integration.rate_worker URL KEYS LIMITER PER_MINUTE COUNT

`KEYS` is JSON: the API member's credentials. `LIMITER` is `sync:<redis url>` (a
`ConnectWiseClient` with a `RedisRateLimiter`), `async:<redis url>` (an `AsyncConnectWiseClient`
calling a `redis.Redis` from a thread), `async-redis:<redis url>` (one on a
`redis.asyncio.Redis`) or `local` (the client's own in-process limiter: each worker counts only
its own requests). The worker prints `ready`, starts when a line arrives on its standard input,
sends `COUNT` requests and prints `done`. Waits are real: start it without testing mode.
"""

from __future__ import annotations

import asyncio
import json
import sys

from connectwise_billing import (
    AsyncConnectWiseClient,
    ConnectWiseClient,
    Credentials,
    RedisRateLimiter,
)


def main(url: str, keys: str, limiter: str, per_minute: str, count: str) -> None:
    import redis
    import redis.asyncio

    credentials = Credentials(**json.loads(keys))
    kind, _, redis_url = limiter.partition(":")
    rate, requests = float(per_minute), int(count)
    if kind == "local":
        with ConnectWiseClient(url, credentials, rate_limit_per_minute=rate) as client:
            print("ready", flush=True)
            sys.stdin.readline()
            for _ in range(requests):
                client.products.count()
    elif kind == "sync":
        shared = RedisRateLimiter(redis.Redis.from_url(redis_url), per_minute=rate)
        with ConnectWiseClient(url, credentials, rate_limiter=shared) as client:
            print("ready", flush=True)
            sys.stdin.readline()
            for _ in range(requests):
                client.products.count()
    else:

        async def run() -> None:
            connection = (
                redis.asyncio.Redis.from_url(redis_url)
                if kind == "async-redis"
                else redis.Redis.from_url(redis_url)
            )
            shared = RedisRateLimiter(connection, per_minute=rate)
            async with AsyncConnectWiseClient(url, credentials, rate_limiter=shared) as client:
                print("ready", flush=True)
                await asyncio.to_thread(sys.stdin.readline)
                for _ in range(requests):
                    await client.products.count()
            if kind == "async-redis":
                await connection.aclose()

        asyncio.run(run())
    print("done", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
