"""API-member credentials, and the `Authorization` header they make."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

import attrs

from connectwise_billing.errors import ConfigurationError


def _non_empty(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"Credentials.{attribute.name} must be a non-empty string")


def _no_colon(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    # Basic auth splits user from password at the first colon.
    if ":" in value:
        raise ConfigurationError(f"Credentials.{attribute.name} must not contain ':'")


@attrs.frozen(repr=False)
class Credentials:
    """How an API member signs in to ConnectWise.

    Attributes:
        company_id: The company id you log in to ConnectWise with (the site's "Company" field).
        public_key: The API member's public key.
        private_key: The API member's private key. Never shown by `repr()` or `str()`.
        client_id: Your integration's clientId (a GUID from developer.connectwise.com), sent
            as the `clientId` header on every request.
    """

    company_id: str = attrs.field(validator=[_non_empty, _no_colon])
    public_key: str = attrs.field(validator=[_non_empty, _no_colon])
    private_key: str = attrs.field(validator=_non_empty)
    client_id: str = attrs.field(validator=_non_empty)

    def __repr__(self) -> str:
        return (
            f"Credentials(company_id={self.company_id!r}, public_key={self.public_key!r}, "
            "private_key='***', client_id='***')"
        )

    __str__ = __repr__

    def authorization_header(self) -> str:
        """`Basic base64("<company_id>+<public_key>:<private_key>")`."""
        return "Basic " + self._token()

    def _token(self) -> str:
        user = f"{self.company_id}+{self.public_key}:{self.private_key}"
        return base64.b64encode(user.encode()).decode("ascii")

    def secrets(self) -> tuple[str, ...]:
        """Every text that must never be shown: the private key, the `Authorization` value
        (also as JSON escapes it) and the clientId, longest first."""
        token = self._token()
        found = {self.private_key, token, token.replace("/", "\\/"), self.client_id}
        return tuple(sorted(found, key=len, reverse=True))

    @classmethod
    def from_env(
        cls,
        company_id: str,
        client_id: str,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Credentials:
        """Read the keys from `CW_PUBLIC_KEY` and `CW_PRIVATE_KEY`.

        Raises:
            ConfigurationError: a variable is missing or empty (its value is never shown).
        """
        env = os.environ if environ is None else environ
        missing = [name for name in ("CW_PUBLIC_KEY", "CW_PRIVATE_KEY") if not env.get(name)]
        if missing:
            raise ConfigurationError(f"environment variable {' and '.join(missing)} is not set")
        return cls(company_id, env["CW_PUBLIC_KEY"], env["CW_PRIVATE_KEY"], client_id)
