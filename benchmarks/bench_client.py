"""Client benchmarks: parse speed, streaming memory. Prints figures; asserts nothing.

    python benchmarks/bench_client.py

Targets:
- parse: one page of 1,000 full additions (the 30 fields ConnectWise sends, as in the Addition
  schema of the OpenAPI document and `tests/client/corpus/addition-documented.json`: `_info`
  blocks, references, custom fields, amounts as doubles), read by the client from the bytes of
  the answer into `Addition` models, costs at most 2x `json.loads` of the same bytes;
- stream: 100,000 additions in 100 pages grow peak memory by about two pages, whatever the total.

Timings are the best of interleaved rounds with the garbage collector on, as in a real run, each
from a collected heap: on a shared machine the best round is the one least disturbed. Import cost is in `bench_import.py`.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx

from connectwise_billing import Addition, ConnectWiseClient, Credentials, convert
from connectwise_billing.client import _wire as wire

CREDENTIALS = Credentials("bench", "public", "private", "00000000-0000-4000-8000-000000000000")
BASE_URL = "https://api-na.myconnectwise.net/v2025_1/apis/3.0"
SITE = "https://na.myconnectwise.net/v4_6_release/apis/3.0"
PAGE = 1000  # ConnectWise's largest page, and the client's page size
TARGET = 2.0


def addition_record(number: int) -> dict[str, Any]:
    """A full addition as ConnectWise sends it: all 30 fields of the documented record, amounts
    as doubles (`16.799999999999997`, `419.99999999999994`), references with their `_info`."""
    price = (20.0, 8.5, 12.75, 3.99)[number % 4]
    cost = price * 0.84  # a double, as ConnectWise stores it
    quantity = float(1 + number % 40)
    product = 731 + number % 4
    agreement = 300 + number // 5
    return {
        "id": number,
        "product": {"id": product, "identifier": f"O365-E{number % 4}", "_info": {"product_href": f"{SITE}/procurement/catalog/{product}"}},
        "quantity": quantity, "lessIncluded": 0.0, "unitPrice": price, "unitCost": cost,
        "billCustomer": "Billable", "effectiveDate": f"2019-{1 + number % 12:02d}-01T00:00:00Z",
        "taxableFlag": False, "serialNumber": "", "invoiceDescription": "Microsoft 365 E3",
        "purchaseItemFlag": False, "specialOrderFlag": False, "agreementId": agreement,
        "description": "Microsoft 365 E3", "billedQuantity": quantity, "uom": "Each",
        "extPrice": quantity * price, "extCost": quantity * cost, "sequenceNumber": float(1 + number % 5),
        "margin": quantity * price - quantity * cost, "prorateCost": 0.0, "proratePrice": 0.0,
        "extendedProrateCost": 0.0, "extendedProratePrice": 0.0, "prorateCurrentPeriodFlag": False,
        "agreementStatus": "Active",
        "invoiceGrouping": {"id": 1, "name": "Default", "_info": {"invoiceGrouping_href": f"{SITE}/finance/invoiceGroupings/1"}},
        "_info": {"lastUpdated": f"2021-03-{1 + number % 28:02d}T17:{number % 60:02d}:07Z", "updatedBy": "CloudPanelAPI", "agreement_href": f"{SITE}/finance/agreements/{agreement}"},
        "customFields": [{"id": 4, "caption": "Tenant", "type": "Text", "entryMethod": "EntryField", "numberOfDecimals": 0, "value": f"tenant{number}.onmicrosoft.com"}],
    }  # fmt: skip


def page_bytes(first: int, last: int) -> bytes:
    """The body of a page of additions `first`..`last`, as ConnectWise writes it."""
    records = [addition_record(n) for n in range(first, last + 1)]
    return json.dumps(records, separators=(",", ":")).encode()


def best_of(rounds: int, **timed: Callable[[], object]) -> dict[str, float]:
    """The best time of each function, in seconds, over `rounds` interleaved rounds. Each starts
    from a collected heap, and pays for the collections its own garbage causes."""
    best = dict.fromkeys(timed, float("inf"))
    for _ in range(rounds):
        for name, fn in timed.items():
            gc.collect()
            started = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def bench_parse(rounds: int = 25) -> None:
    data = page_bytes(1, PAGE)
    assert len(addition_record(1)) == 30
    headers = {"content-type": "application/json; charset=utf-8"}
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=data, headers=headers))
    client = ConnectWiseClient(
        BASE_URL, CREDENTIALS, transport=transport, rate_limit_per_minute=None
    )
    structure = wire.get_converter().get_structure_hook(Addition)

    def read_page() -> list[Addition]:  # the answer's bytes -> the page's models, as a listing does
        pages = client.additions.iter_pages(77)
        page = next(pages)
        pages.close()
        return page.items

    def converter() -> list[Addition]:
        return [structure(record, Addition) for record in convert.loads(data)]

    assert read_page() == converter()
    assert len(converter()) == PAGE
    best = best_of(
        rounds,
        plain=lambda: json.loads(data),
        decimal=lambda: convert.loads(data),
        page=read_page,
        converter=converter,
    )
    client.close()
    plain = best["plain"]
    ratio = best["page"] / plain
    print(
        f"parse   a page of {PAGE:,} full additions (30 fields, {len(data) / 1e6:.2f} MB), best of "
        f"{rounds}: {best['page'] * 1000:.1f} ms read by the client"
    )
    print(
        f"        json.loads {plain * 1000:.1f} ms -> ratio {ratio:.2f} (target <= {TARGET}: "
        f"{'met' if ratio <= TARGET else 'NOT met'})"
    )
    print(
        f"        of which: json.loads with Decimal {best['decimal'] / plain:.2f}x, "
        f"+ models {(best['converter'] - best['decimal']) / plain:.2f}x, "
        f"+ the client's page handling {(best['page'] - best['converter']) / plain:.2f}x"
    )


def paged_transport(total: int, page_size: int) -> httpx.MockTransport:
    """Serves `total` additions forward-only, building each page on demand, and their count."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/count"):  # asked once a listing runs past ten pages
            return httpx.Response(200, json={"count": total})
        after = int(request.url.params.get("pageId", 0))
        last = min(after + page_size, total)
        page = page_bytes(after + 1, last)
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
