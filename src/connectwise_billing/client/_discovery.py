"""From a site URL and company id to the API's base URL (pure functions).

ConnectWise serves the API under a per-release "codebase" (`v2025_1/`, or `v4_6_release/` on
premise) that an unauthenticated `GET <site>/login/companyinfo/<companyId>` reveals. Cloud sites
serve the API on an `api-` host (`na.myconnectwise.net` -> `api-na.myconnectwise.net`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import httpx

from connectwise_billing.errors import ConfigurationError, UnknownCompanyError

_CLOUD_SUFFIXES: Final = (".myconnectwise.net", ".connectwisedev.com")
_CODEBASE: Final = re.compile(r"^[A-Za-z0-9_.\-]+/?$")


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def checked_url(url: str | httpx.URL, what: str) -> httpx.URL:
    """Parse `url` and refuse what would send credentials astray or requests elsewhere.

    Refused: plain HTTP except on loopback (tests and the simulator); a user name or password in
    the URL (httpx would send them instead of the API keys); a query string or fragment (every
    request, writes too, would go to the URL's root). A URL without a scheme is taken as
    `https://`. Errors never show a password the URL held.
    """
    text = str(url).strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL:
        raise ConfigurationError(f"{what} is not a URL: {_safe(text)!r}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"{what} must be an https:// URL, got {_safe(text)!r}")
    if parsed.userinfo:
        raise ConfigurationError(
            f"{what} must not hold a user name or password ({_safe(text)!r}): the API member's "
            "keys go in Credentials"
        )
    if parsed.query or parsed.fragment or "?" in text or "#" in text:
        raise ConfigurationError(
            f"{what} must not have a query string or fragment, got {_safe(text)!r}"
        )
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise ConfigurationError(
            f"{what} must use https:// (credentials would travel in clear text), "
            f"got {_safe(text)!r}; plain http is allowed only on loopback addresses"
        )
    return parsed


def _safe(text: str) -> str:
    """A URL as errors may show it: without what stands between `://` and `@`."""
    scheme, separator, rest = text.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{separator}{authority}{slash}{path}"


def api_host(site_host: str) -> str:
    """The host that serves the API for a site host (the `api-` rule for cloud sites)."""
    host = site_host.lower()
    if host.endswith(_CLOUD_SUFFIXES) and not host.startswith("api-"):
        return "api-" + host
    return host


def site_of(base_url: str | httpx.URL) -> httpx.URL:
    """The site an API base URL belongs to: its host, without the `api-` of a cloud site
    (`https://api-na.myconnectwise.net/v2025_1/apis/3.0` -> `https://na.myconnectwise.net/`),
    which is where `/login/companyinfo` is served."""
    url = httpx.URL(str(base_url))
    host = url.host
    if host.endswith(_CLOUD_SUFFIXES) and host.startswith("api-"):
        host = host.removeprefix("api-")
    return url.copy_with(host=host, path="/", query=None, fragment=None)


def unknown_company(site_url: str | httpx.URL, company_id: str) -> UnknownCompanyError:
    """The error of a site that answered 404 for the company id's `/login/companyinfo`."""
    host = checked_url(site_url, "site_url").host
    return UnknownCompanyError(
        f"{host} does not know the company id {company_id!r} (its /login/companyinfo answered "
        "404): use the company id you log in to ConnectWise with",
        company_id=company_id,
    )


def companyinfo_url(site_url: str | httpx.URL, company_id: str) -> httpx.URL:
    """`<site>/login/companyinfo/<company_id>`."""
    site = checked_url(site_url, "site_url")
    return site.copy_with(path=f"/login/companyinfo/{quote(company_id, safe='')}", query=None)


def base_url_from_companyinfo(site_url: str | httpx.URL, company_id: str, info: Any) -> str:
    """The API base URL `<scheme>://<api host>/<codebase>apis/3.0` from a companyinfo answer."""
    site = checked_url(site_url, "site_url")
    codebase = info.get("Codebase") if isinstance(info, Mapping) else None
    if not isinstance(codebase, str) or not _CODEBASE.match(codebase):
        raise UnknownCompanyError(
            f"{site.host} did not return a codebase for company id {company_id!r} "
            f"(got {codebase!r}); check the site URL and the company id",
            company_id=company_id,
        )
    codebase = codebase if codebase.endswith("/") else codebase + "/"
    return str(site.copy_with(host=api_host(site.host), path=f"/{codebase}apis/3.0", query=None))
