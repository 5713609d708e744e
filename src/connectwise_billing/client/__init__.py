"""The typed ConnectWise Manage client layer: HTTP, auth, models and resources.

Imports nothing from reconciliation or sync.
"""

from connectwise_billing._retry import RetryHook, RetryPolicy
from connectwise_billing.client._accessors import ChildResource, Resource
from connectwise_billing.client._api import ApiRequest, ListQuery, RequestOptions, Timeout
from connectwise_billing.client._async_accessors import AsyncChildResource, AsyncResource
from connectwise_billing.client._client import AsyncConnectWiseClient, ConnectWiseClient
from connectwise_billing.client._conditions import Condition, Field, Value
from connectwise_billing.client._credentials import Credentials
from connectwise_billing.client._discovery import site_of
from connectwise_billing.client._models import (
    NOT_GIVEN,
    Addition,
    Agreement,
    Company,
    NewAddition,
    NotGiven,
    Product,
    Reference,
)
from connectwise_billing.client._paging import AsyncListingIterator, Listing, ListingIterator, Page
from connectwise_billing.client._ratelimit import Limiter, RateLimiter, RedisRateLimiter
from connectwise_billing.client._resource import Conditions, Fields

__all__ = [
    "NOT_GIVEN",
    "Addition",
    "Agreement",
    "ApiRequest",
    "AsyncChildResource",
    "AsyncConnectWiseClient",
    "AsyncListingIterator",
    "AsyncResource",
    "ChildResource",
    "Company",
    "Condition",
    "Conditions",
    "ConnectWiseClient",
    "Credentials",
    "Field",
    "Fields",
    "Limiter",
    "ListQuery",
    "Listing",
    "ListingIterator",
    "NewAddition",
    "NotGiven",
    "Page",
    "Product",
    "RateLimiter",
    "RedisRateLimiter",
    "Reference",
    "RequestOptions",
    "Resource",
    "RetryHook",
    "RetryPolicy",
    "Timeout",
    "Value",
    "site_of",
]
