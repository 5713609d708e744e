"""vcrpy settings that keep credentials out of recorded cassettes.

```python
import vcr
from connectwise_billing.testing import vcr_config

recorder = vcr.VCR(**vcr_config(credentials))
with recorder.use_cassette("tests/cassettes/sync.yaml"):
    ...  # requests made here are recorded without keys, Authorization or clientId
```

With pytest-recording, return it from the `vcr_config` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectwise_billing.client import Credentials

PLACEHOLDER = "***"
SECRET_HEADERS = ("authorization", "clientid")
"""Request headers never written to a cassette."""


def _scrubber(secrets: tuple[str, ...]) -> Callable[[Any], Any]:
    def scrub(value: Any) -> Any:
        if isinstance(value, bytes):
            return scrub(value.decode("utf-8", errors="surrogateescape")).encode(
                "utf-8", errors="surrogateescape"
            )
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, PLACEHOLDER)
        return value

    return scrub


def vcr_config(*credentials: Credentials, **settings: Any) -> dict[str, Any]:
    """Settings for `vcr.VCR(...)` (or pytest-recording's `vcr_config` fixture).

    The `Authorization` and `clientId` request headers are left out of every cassette. With the
    `credentials` used, their keys, `Authorization` value and clientId are also replaced by
    `***` wherever else they appear: in request URLs and bodies, and in response bodies and
    headers (a gateway that echoes the request would otherwise write them down). `settings`
    are added to (or override) the result, e.g. `match_on=[...]`.
    """
    secrets = tuple(
        sorted(
            {secret for c in credentials for secret in (*c.secrets(), c.public_key)},
            key=len,
            reverse=True,
        )
    )
    scrub = _scrubber(secrets)

    def before_record_request(request: Any) -> Any:
        request.uri = scrub(request.uri)
        if request.body:
            request.body = scrub(request.body)
        return request

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response.get("body") or {}
        if "string" in body:
            body["string"] = scrub(body["string"])
        headers = response.get("headers") or {}
        for name, values in headers.items():
            headers[name] = [scrub(value) for value in values]
        return response

    return {
        "filter_headers": list(SECRET_HEADERS),
        "before_record_request": before_record_request,
        "before_record_response": before_record_response,
        "decode_compressed_response": True,
        **settings,
    }
