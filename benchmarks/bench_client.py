"""Client benchmarks: parse speed, streaming memory. Prints figures; asserts nothing.

    python benchmarks/bench_client.py

Targets:
- parse: bytes -> 10,000 `Addition` models costs at most 2x `json.loads` of the same bytes;
- stream: 100,000 additions in 100 pages grow peak memory by about two pages, whatever the total.

Import cost is in `bench_import.py`.
"""

from __future__ import annotations

import gc
import json
import timeit
import tracemalloc
from decimal import Decimal
from typing import Any

import httpx

from connectwise_billing import Addition, ConnectWiseClient, Credentials, convert
from connectwise_billing.client import wire

CREDENTIALS = Credentials("bench", "public", "private", "00000000-0000-4000-8000-000000000000")
BASE_URL = "https://api-na.myconnectwise.net/v2025_1/apis/3.0"


def addition_record(number: int) -> dict[str, Any]:
    """A full Addition as ConnectWise returns it (every commonly present field)."""
    return {
        "id": number,
        "product": {"id": 17 + number % 4, "identifier": f"MBX-{number % 4}", "_info": {"product_href": "https://x/procurement/catalog/17"}},
        "quantity": 12, "lessIncluded": 0, "unitPrice": Decimal("8.50"), "unitCost": Decimal("4.25"),
        "billCustomer": "Billable", "effectiveDate": "2026-01-01T00:00:00Z", "taxableFlag": False,
        "invoiceDescription": "Gold 50 GB mailbox", "purchaseItemFlag": False, "specialOrderFlag": False,
        "agreementId": 77, "description": "Gold mailbox", "billedQuantity": 0, "uom": "Each",
        "extPrice": Decimal("102.00"), "extCost": Decimal("51.00"), "sequenceNumber": Decimal("1.00"),
        "margin": Decimal("51.00"), "prorateCost": 0, "proratePrice": 0, "extendedProrateCost": 0,
        "extendedProratePrice": 0, "prorateCurrentPeriodFlag": False, "agreementStatus": "Active",
        "_info": {"lastUpdated": "2026-02-03T04:05:06Z", "updatedBy": "CloudPanelAPI", "agreement_href": "https://x/finance/agreements/77"},
    }  # fmt: skip


def bench_parse() -> None:
    data = convert.dumps([addition_record(n) for n in range(1, 10_001)])
    structure = wire.get_converter().get_structure_hook(Addition)

    def parse() -> list[Addition]:
        return [structure(record, Addition) for record in convert.loads(data)]

    def best(fn: Any) -> float:
        return min(timeit.repeat(fn, number=1, repeat=9))

    parse()
    plain = best(lambda: json.loads(data))
    decimal = best(lambda: convert.loads(data))
    full = best(parse)
    print(f"parse   10,000 additions ({len(data) / 1e6:.1f} MB): {full * 1000:.1f} ms")
    print(f"        json.loads: {plain * 1000:.1f} ms -> ratio {full / plain:.2f} (target <= 2)")
    print(f"        json.loads with Decimal: {decimal * 1000:.1f} ms -> ratio {full / decimal:.2f}")


def paged_transport(total: int, page_size: int) -> httpx.MockTransport:
    """Serves `total` additions forward-only, building each page on demand, and their count."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/count"):  # asked once a listing runs past ten pages
            return httpx.Response(200, json={"count": total})
        after = int(request.url.params.get("pageId", 0))
        last = min(after + page_size, total)
        page = convert.dumps([addition_record(n) for n in range(after + 1, last + 1)])
        headers = {"content-type": "application/json"}
        if last < total:
            headers["link"] = f'<{BASE_URL}/x?pageId={last}&pageSize={page_size}>; rel="next"'
        return httpx.Response(200, content=page, headers=headers)

    return httpx.MockTransport(handle)


def stream_peak(total: int, page_size: int) -> int:
    client = ConnectWiseClient(
        BASE_URL,
        CREDENTIALS,
        transport=paged_transport(total, page_size),
        rate_limit_per_minute=None,
    )
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    count = 0
    for _addition in client.additions.iter(77, page_size=page_size):
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    client.close()
    assert count == total
    return peak - base


def bench_stream() -> None:
    page_size = 1000
    one_page = stream_peak(page_size, page_size)
    for total in (10_000, 100_000):
        growth = stream_peak(total, page_size)
        print(
            f"stream  {total:,} additions in {total // page_size} pages: peak growth "
            f"{growth / 1e6:.1f} MB = {growth / one_page:.1f} x one page "
            "(target ~2, independent of the total)"
        )


if __name__ == "__main__":
    bench_parse()
    bench_stream()
