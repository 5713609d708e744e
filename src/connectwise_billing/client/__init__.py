"""The typed ConnectWise Manage client layer: HTTP, auth, models and resources.

Imports nothing from reconciliation or sync.
"""

from connectwise_billing.client._client import AsyncConnectWiseClient, ConnectWiseClient
from connectwise_billing.client.api import ApiRequest, ListQuery, RequestOptions
from connectwise_billing.client.conditions import Condition, Field
from connectwise_billing.client.credentials import Credentials
from connectwise_billing.client.models import (
    NOT_GIVEN,
    Addition,
    Agreement,
    Company,
    NewAddition,
    Product,
    Reference,
)
from connectwise_billing.client.paging import AsyncListingIterator, Listing, ListingIterator, Page
from connectwise_billing.client.ratelimit import Limiter, RateLimiter, RedisRateLimiter
from connectwise_billing.retry import RetryPolicy

__all__ = [
    "NOT_GIVEN",
    "Addition",
    "Agreement",
    "ApiRequest",
    "AsyncConnectWiseClient",
    "AsyncListingIterator",
    "Company",
    "Condition",
    "ConnectWiseClient",
    "Credentials",
    "Field",
    "Limiter",
    "ListQuery",
    "Listing",
    "ListingIterator",
    "NewAddition",
    "Page",
    "Product",
    "RateLimiter",
    "RedisRateLimiter",
    "Reference",
    "RequestOptions",
    "RetryPolicy",
]
