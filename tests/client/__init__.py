"""Tests of the client layer against `httpx.MockTransport`, cassettes and the contract."""

from __future__ import annotations

from typing import Any


def streamed(records: Any) -> Any:
    """What `Api.run` reads to the end: a sync listing's stream as a generator (it collects only
    generators), an async one as it is."""
    if hasattr(records, "__aiter__"):
        return records
    return (record for record in records)
