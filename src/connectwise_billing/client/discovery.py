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

from connectwise_billing.errors import ConfigurationError

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
    """Parse `url` and refuse plain HTTP except on loopback (tests and the simulator).

    A URL without a scheme is taken as `https://`.
    """
    text = str(url).strip()
    if "://" not in text:
        text = "https://" + text
    parsed = httpx.URL(text)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"{what} must be an https:// URL, got {str(url)!r}")
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise ConfigurationError(
            f"{what} must use https:// (credentials would travel in clear text), got {str(url)!r}; "
            "plain http is allowed only on loopback addresses"
        )
    return parsed


def api_host(site_host: str) -> str:
    """The host that serves the API for a site host (the `api-` rule for cloud sites)."""
    host = site_host.lower()
    if host.endswith(_CLOUD_SUFFIXES) and not host.startswith("api-"):
        return "api-" + host
    return host


def companyinfo_url(site_url: str | httpx.URL, company_id: str) -> httpx.URL:
    """`<site>/login/companyinfo/<company_id>`."""
    site = checked_url(site_url, "site_url")
    return site.copy_with(path=f"/login/companyinfo/{quote(company_id, safe='')}", query=None)


def base_url_from_companyinfo(site_url: str | httpx.URL, company_id: str, info: Any) -> str:
    """The API base URL `<scheme>://<api host>/<codebase>apis/3.0` from a companyinfo answer."""
    site = checked_url(site_url, "site_url")
    codebase = info.get("Codebase") if isinstance(info, Mapping) else None
    if not isinstance(codebase, str) or not _CODEBASE.match(codebase):
        raise ConfigurationError(
            f"{site.host} did not return a codebase for company id {company_id!r} "
            f"(got {codebase!r}); check the site URL and the company id"
        )
    codebase = codebase if codebase.endswith("/") else codebase + "/"
    return str(site.copy_with(host=api_host(site.host), path=f"/{codebase}apis/3.0", query=None))
