"""The command line's configuration file (TOML) and the API keys.

```toml
[connectwise]
site_url = "https://na.myconnectwise.net"   # or base_url = "https://api-na.../v2025_1/apis/3.0"
company_id = "mymsp"
client_id = "6a3e8d2c-41f7-4a57-9a64-0d8f4b1f2e77"
api_version = "2025.8"                      # optional
rate_limit_per_minute = 950                 # optional
keys_file = "/etc/cloudpanel/cw-keys.toml"  # optional; else CW_PUBLIC_KEY / CW_PRIVATE_KEY
bill_customer = "Billable"                  # optional: billCustomer of the additions created

[plans]
gold-50 = { name = "Gold 50 GB", cost = 3.25, price = 8.00 }

[mapping]
gold-50 = 1043

[retired]                                   # optional: products plans were mapped to before
gold-50 = 1031

[policy]                                    # optional; any SyncPolicy field
on_zero = "cancel"
api_member = "CloudPanelAPI"

[retry]                                     # optional; any RetryPolicy setting
max_attempts = 5
settle_timeout = 10
throttle_budget = 600                       # seconds of 429 waits a run may spend; false: no limit

[guardrails]                                # optional: what holds a change for a person
max_mrr_drop_percent = 50                   # false turns a rule off
max_price_change_percent = 50
below_cost = "hold"                         # or "warn"
max_zeroed_percent = 20
unmapped_usage = "warn"                     # or "fail"
# max_mrr_increase_percent = 200            # off unless set

[lock]                                      # optional: how `sync` keeps runs apart
dir = "locks"                               # lock files (relative to this file); default:
                                            # connectwise-billing-locks beside this file
redis_url = "redis://127.0.0.1:6379/0"      # or lock in Redis (syncs on several hosts)
wait = 30                                   # seconds to wait for an agreement another run has
ttl = 300                                   # Redis only: a dead worker's lock frees itself

[notify]                                    # optional: after plan, sync, apply: one POST
url_env = "BILLING_WEBHOOK_URL"             # the variable holding the webhook's URL (a secret),
                                            # or url = "https://hooks.slack.com/services/..."
format = "slack"                            # "teams" (a workflow's Adaptive Card) or "json"
when = "problems"                           # or "changes", "always"
timeout = 10                                # seconds to connect, and to answer
```

Numbers are read exactly (TOML floats become `Decimal`). Every problem is reported as a
`ConfigFileError` naming the file and the setting. Plan ids, in `[plans]`, `[mapping]` and
`[retired]`, are compared in Unicode NFC, as [`Plan`][connectwise_billing.Plan] keeps them.
The webhook's URL is shown nowhere: not in errors, not in the loaded configuration's `repr()`.
"""

from __future__ import annotations

import difflib
import os
import sys
import tomllib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from connectwise_billing import ConnectWiseBackend
from connectwise_billing._retry import RetryPolicy
from connectwise_billing._values import normalize_text, shown, shown_text
from connectwise_billing.client import ConnectWiseClient, Credentials, Limiter
from connectwise_billing.defaults import (
    BILL_CUSTOMER_VALUES,
    DEFAULT_API_VERSION,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
)
from connectwise_billing.errors import ConfigurationError, InputError, redact
from connectwise_billing.locks import FileLock, Lock, RedisLock
from connectwise_billing.notifications import (
    DEFAULT_TIMEOUT,
    FORMATS,
    WHENS,
    NotifyFormat,
    NotifyResult,
    NotifyWhen,
    check_webhook_url,
    notify,
)
from connectwise_billing.reconcile import Guardrails, Plan, PlanMapping, SyncPolicy
from connectwise_billing.runner import SyncReport

_POLICY_FIELDS: Final = frozenset(SyncPolicy._fields)
_RETRY_SETTINGS: Final = frozenset(
    field.name for field in attrs.fields(RetryPolicy) if field.name not in ("on", "wait")
)
_CONNECTWISE_SETTINGS: Final = frozenset(
    {
        "site_url", "base_url", "company_id", "client_id", "api_version", "api_member",
        "rate_limit_per_minute", "keys_file", "bill_customer",
    }
)  # fmt: skip
_LOCK_SETTINGS: Final = ("dir", "redis_url", "wait", "ttl")
_NOTIFY_SETTINGS: Final = ("url", "url_env", "format", "when", "timeout")
LOCK_DIR_NAME: Final = "connectwise-billing-locks"
"""The default lock directory's name, beside the configuration file: every run with the same
configuration meets there, whoever runs it (cron's user, a person's), whatever its `HOME`."""


class ConfigFileError(ConfigurationError):
    """A configuration or usage file is wrong; the message names the file, line and field."""


def _without_password(url: str | None) -> str:
    # A Redis URL may carry the server's password: redis://:secret@host:6379/0.
    parts = urlsplit(url) if url is not None else None
    if parts is None or parts.password is None:
        return repr(url)
    host = parts.netloc.rpartition("@")[2]
    return repr(parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl())


@attrs.frozen(slots=False)
class LockSettings:
    """The `[lock]` section: where `sync` keeps its locks. Its `repr()` shows no password a
    `redis_url` holds.

    Attributes:
        dir: The lock files' directory (default: `connectwise-billing-locks` beside the
            configuration file).
        redis_url: Lock in this Redis instead of files.
        wait: Seconds to wait for an agreement another run holds (`None`: the lock's default).
        ttl: Seconds a Redis lock of a dead worker lives (`None`: the default).
    """

    dir: Path
    redis_url: str | None = attrs.field(default=None, repr=_without_password)
    wait: float | None = None
    ttl: float | None = None


def _hidden(_value: object) -> str:
    return "'***'"


def _hidden_url(value: str | None) -> str:
    return "None" if value is None else "'***'"


def _variable_name(value: object) -> bool:
    """`value` can be an environment variable's name: `[A-Za-z_][A-Za-z0-9_]*`."""
    return isinstance(value, str) and value.isascii() and value.isidentifier()


def _shown_variable(value: str | None) -> str:
    # Not a name: perhaps the webhook's URL, put there by mistake.
    return repr(value) if value is None or _variable_name(value) else "'***'"


@attrs.frozen(slots=False)
class NotifySettings:
    """The `[notify]` section: whom to tell how a run went. Its `repr()` shows `url` as
    `'***'`: whoever has a webhook's URL can post to its channel.

    Attributes:
        url: The webhook's URL, as the file gives it.
        url_env: Instead of `url`: the environment variable that holds it, read when the run
            is over (a missing variable is a warning then, not an error before the run).
        format: `slack`, `teams` or `json` (see
            `connectwise_billing.notifications.NotifyFormat`).
        when: `problems`, `changes` or `always` (see
            `connectwise_billing.notifications.NotifyWhen`).
        timeout: Seconds to wait for the webhook to connect, and to answer.
    """

    url: str | None = attrs.field(default=None, repr=_hidden_url)
    url_env: str | None = attrs.field(default=None, repr=_shown_variable)
    format: NotifyFormat = "json"
    when: NotifyWhen = "problems"
    timeout: float = DEFAULT_TIMEOUT


@attrs.frozen(slots=False)
class Config:
    """What the configuration file says (the keys are read separately, never stored here).

    Its `repr()` and `str()` show `client_id` as `'***'`, as
    [`Credentials`][connectwise_billing.Credentials] does: a configuration printed into a log
    or a bug report does not give the integration's clientId away.

    Attributes:
        path: The file it was read from (relative paths in it are relative to its directory).
        site_url: `[connectwise] site_url`: the site whose codebase is looked up.
        base_url: `[connectwise] base_url`: the API's URL, instead of `site_url`.
        company_id: The login company id.
        client_id: The integration's clientId.
        api_version: The API version asked for in `Accept`.
        rate_limit_per_minute: Requests per minute (`None`: the client's default).
        keys_file: The file of the API member's keys (`None`: `CW_PUBLIC_KEY` and
            `CW_PRIVATE_KEY`).
        plans: `[plans]`.
        mapping: `[mapping]` and `[retired]`.
        policy: `[policy]` with `[guardrails]`.
        retry: `[retry]`.
        bill_customer: `billCustomer` of the additions a sync creates.
        lock: `[lock]`.
        notify: `[notify]` (`None`: no notification).
    """

    path: Path
    site_url: str | None
    base_url: str | None
    company_id: str
    client_id: str = attrs.field(repr=_hidden)
    api_version: str
    rate_limit_per_minute: float | None
    keys_file: Path | None
    plans: tuple[Plan, ...]
    mapping: PlanMapping
    policy: SyncPolicy
    retry: RetryPolicy
    bill_customer: str
    lock: LockSettings
    notify: NotifySettings | None = None

    def client(
        self,
        *,
        rate_limiter: Limiter | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConnectWiseClient:
        """The client this configuration describes, as `sync` builds it: its `site_url`
        (whose codebase is looked up) or `base_url`, `api_version`, `rate_limit_per_minute`
        and `[retry]`, with the keys of
        [`load_credentials`][connectwise_billing.cli._config.load_credentials].

        Args:
            rate_limiter: A limiter shared with other processes (a job queue's workers:
                [`RedisRateLimiter`][connectwise_billing.RedisRateLimiter]) instead of the
                client's own at `rate_limit_per_minute`.
            environ: Where `CW_PUBLIC_KEY` and `CW_PRIVATE_KEY` are read (default:
                `os.environ`).

        Raises:
            ConfigFileError: the keys are missing.
            UnknownCompanyError: the site does not know the login company id.
        """
        credentials = load_credentials(self, environ)
        options: dict[str, Any] = {"api_version": self.api_version, "retry": self.retry}
        if rate_limiter is not None:
            options["rate_limiter"] = rate_limiter
        else:
            options["rate_limit_per_minute"] = self.rate_limit_per_minute
        if self.base_url:
            return ConnectWiseClient(self.base_url, credentials, **options)
        return ConnectWiseClient.from_site(self.site_url or "", credentials, **options)

    def backend(self, client: ConnectWiseClient) -> ConnectWiseBackend:
        """The billing backend a sync writes through, with this configuration's
        `bill_customer` for the lines it creates."""
        return ConnectWiseBackend(client, bill_customer=self.bill_customer)

    def make_lock(
        self, *, redis_url: str | None = None, lock_dir: str | Path | None = None
    ) -> Lock:
        """The lock `sync` takes per agreement: in Redis when `redis_url` (or `[lock]
        redis_url`) is set, else files in `lock_dir` (or `[lock] dir`); `[lock]`'s `wait`
        and `ttl` apply."""
        settings = self.lock
        redis_url = redis_url or (None if lock_dir else settings.redis_url)
        wait = {} if settings.wait is None else {"wait": settings.wait}
        if redis_url:
            ttl = {} if settings.ttl is None else {"ttl": settings.ttl}
            return RedisLock.from_url(redis_url, **wait, **ttl)
        # A file lock lives as long as its process: no ttl.
        return FileLock(lock_dir or settings.dir, **wait)


def _fail(path: Path, setting: str, problem: str) -> ConfigFileError:
    return ConfigFileError(f"{path}: {setting}: {problem}")


def read_text(path: Path, what: str, *, encoding: str = "utf-8", newline: str | None = None) -> str:
    """A file's text, or one line saying why it cannot be read (`newline` as `open` takes it)."""
    try:
        with path.open(encoding=encoding, newline=newline) as file:
            return file.read()
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise ConfigFileError(f"{path}: is a directory, not a file ({what})") from None
    except PermissionError:
        raise ConfigFileError(f"{path}: not allowed to read it ({what})") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path}: not UTF-8 text ({what})") from None
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot be read: {error.strerror} ({what})") from None


def _check_keys(path: Path, where: str, table: Mapping[str, Any], known: Iterable[str]) -> None:
    known = sorted(known)
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(known)}"
            raise _fail(path, f"{where}.{key}" if where else key, f"unknown setting; {hint}")


def _text(
    path: Path, table: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise _fail(path, f"{where}.{key}", "is missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, f"{where}.{key}", f"must be a non-empty string, got {shown(value)}")
    return value.strip()


def _money(path: Path, value: Any, setting: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _fail(path, setting, f"must be a number, got {shown(value)}")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise _fail(path, setting, f"must be a number, got {shown(value)}") from None
    if not amount.is_finite() or amount < 0:
        raise _fail(path, setting, f"must be a number >= 0, got {shown(value)}")
    return amount


def _plans(path: Path, table: Any) -> tuple[Plan, ...]:
    if not isinstance(table, Mapping) or not table:
        raise _fail(path, "plans", "needs at least one plan: [plans] id = { name, cost, price }")
    plans: dict[str, Plan] = {}
    for plan_id, spec in table.items():
        where = f"plans.{plan_id}"
        if not isinstance(spec, Mapping):
            raise _fail(path, where, "must be a table with name, cost and price")
        _check_keys(path, where, spec, ("name", "cost", "price"))
        for key in ("cost", "price"):
            if key not in spec:
                raise _fail(path, f"{where}.{key}", "is missing")
        name = _text(path, spec, "name", where, required=False) or plan_id
        cost = _money(path, spec["cost"], f"{where}.cost")
        price = _money(path, spec["price"], f"{where}.price")
        plan = Plan(plan_id, name, cost=cost, price=price)
        if plan.id in plans:
            raise _fail(
                path,
                where,
                f"{shown_text(plan_id)} is plan {shown_text(plans[plan.id].id)} again, in "
                "another Unicode form",
            )
        plans[plan.id] = plan
    return tuple(plans.values())


def _mapping(path: Path, table: Any, retired: Any, plans: tuple[Plan, ...]) -> PlanMapping:
    if table is None:
        raise _fail(path, "mapping", "is missing: map each plan id to a ConnectWise product id")
    for section, value in (("mapping", table), ("retired", retired or {})):
        if not isinstance(value, Mapping):
            raise _fail(path, section, "must be a table of plan id = product id")
    known = {plan.id for plan in plans}
    for plan_id in table:
        if normalize_text(plan_id) not in known:
            close = difflib.get_close_matches(plan_id, sorted(known), n=1)
            hint = f"; did you mean {shown_text(close[0])}?" if close else ""
            raise _fail(
                path,
                f"mapping.{plan_id}",
                f"names a plan that is not in [plans]: {shown_text(plan_id)}{hint}",
            )
    try:
        return PlanMapping(dict(table), retired=dict(retired or {}))
    except InputError as error:
        raise _fail(path, "mapping", str(error)) from None


def _guardrails(path: Path, table: Any) -> Guardrails:
    """The `[guardrails]` rules: the defaults, each changed or turned off (`false`)."""
    if table is None:
        return Guardrails()
    if not isinstance(table, Mapping):
        raise _fail(path, "guardrails", "must be a table of rules")
    _check_keys(path, "guardrails", table, Guardrails._fields)
    rules: dict[str, Any] = {}
    for rule, value in table.items():
        if value is False:
            rules[rule] = None
            continue
        if rule in ("below_cost", "unmapped_usage"):
            rules[rule] = value
            continue
        rules[rule] = _money(path, value, f"guardrails.{rule}")
    return Guardrails(**rules)


def _policy(
    path: Path, table: Any, api_member: str | None, guardrails: Any
) -> tuple[SyncPolicy, str | None]:
    """The policy, and the `bill_customer` an older file sets in it (a ConnectWise setting,
    now `[connectwise] bill_customer`)."""
    settings = dict(table or {})
    _check_keys(path, "policy", settings, _POLICY_FIELDS - {"guardrails"})
    settings["guardrails"] = _guardrails(path, guardrails)
    bill_customer = settings.pop("bill_customer", None)
    if api_member and "api_member" not in settings:
        settings["api_member"] = api_member
    try:
        return SyncPolicy(**settings), bill_customer
    except (InputError, TypeError) as error:
        where = "guardrails" if "Guardrails" in str(error) else "policy"
        raise _fail(path, where, str(error)) from None


def _bill_customer(path: Path, *given: tuple[str, Any]) -> str:
    for setting, value in given:
        if value is None:
            continue
        if value not in BILL_CUSTOMER_VALUES:
            allowed = ", ".join(BILL_CUSTOMER_VALUES)
            raise _fail(path, setting, f"must be one of {allowed}, got {shown(value)}")
        return str(value)
    return "Billable"


def _throttle_budget(path: Path, value: Any) -> float | None:
    """`retry.throttle_budget`: seconds, or `false` for no limit (`RetryPolicy`'s `None`)."""
    if value is False:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | Decimal)
        or not Decimal(value).is_finite()
        or value <= 0
    ):
        raise _fail(
            path,
            "retry.throttle_budget",
            f"must be seconds > 0, or false for no limit, got {shown(value)}",
        )
    return float(value)


def _retry(path: Path, table: Any) -> RetryPolicy:
    if table is None:
        return RetryPolicy()
    if not isinstance(table, Mapping):
        raise _fail(path, "retry", "must be a table of RetryPolicy settings")
    _check_keys(path, "retry", table, _RETRY_SETTINGS)
    settings: dict[str, Any] = {}
    for key, given in table.items():
        if key == "throttle_budget":
            settings[key] = _throttle_budget(path, given)
            continue
        wanted = bool if key == "jitter" else int if key.endswith("attempts") else Decimal
        whole = isinstance(given, int) and not isinstance(given, bool)
        value = Decimal(given) if wanted is Decimal and whole else given
        if isinstance(value, bool) is not (wanted is bool) or not isinstance(value, wanted):
            kind = {bool: "true or false", int: "a whole number", Decimal: "a number"}[wanted]
            raise _fail(path, f"retry.{key}", f"must be {kind}, got {shown(value)}")
        if isinstance(value, Decimal) and not value.is_finite():
            # An infinite settle_timeout would re-read forever, a NaN compares false to all.
            raise _fail(path, f"retry.{key}", f"must be a finite number, got {shown(value)}")
        settings[key] = float(value) if wanted is Decimal else value
    try:
        return RetryPolicy(**settings)
    except ValueError as error:
        raise _fail(path, "retry", str(error)) from None


def _lock(path: Path, table: Any) -> LockSettings:
    default = path.resolve().parent / LOCK_DIR_NAME
    if table is None:
        return LockSettings(default)
    if not isinstance(table, Mapping):
        raise _fail(path, "lock", "must be a table: dir, redis_url, wait, ttl")
    _check_keys(path, "lock", table, _LOCK_SETTINGS)
    where = _text(path, table, "dir", "lock", required=False)
    seconds: dict[str, float | None] = {}
    for key in ("wait", "ttl"):
        value = table.get(key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | Decimal)
            or not Decimal(value).is_finite()
            or value < 0
            or (key == "ttl" and value == 0)
        ):
            limit = "> 0" if key == "ttl" else ">= 0"
            raise _fail(path, f"lock.{key}", f"must be seconds {limit}, got {shown(value)}")
        seconds[key] = None if value is None else float(value)
    return LockSettings(
        (path.resolve().parent / where) if where else default,
        _text(path, table, "redis_url", "lock", required=False),
        **seconds,
    )


def _notify(path: Path, table: Any) -> NotifySettings | None:
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise _fail(path, "notify", "must be a table: url or url_env, format, when, timeout")
    _check_keys(path, "notify", table, _NOTIFY_SETTINGS)
    if ("url" in table) == ("url_env" in table):
        raise _fail(
            path,
            "notify.url",
            "set either url (the webhook's URL) or url_env (the environment variable that "
            "holds it)",
        )
    url = table.get("url")
    if url is not None:
        try:
            url = check_webhook_url(url)
        except ConfigurationError as error:
            raise _fail(path, "notify.url", str(error)) from None
    url_env = table.get("url_env")
    if isinstance(url_env, str):
        url_env = url_env.strip()
    if url_env is not None and not _variable_name(url_env):
        # What it holds is not shown: a webhook's URL put here by mistake is a secret.
        looks_like_a_url = isinstance(url_env, str) and (
            "://" in url_env or url_env.lower().startswith(("http", "hooks."))
        )
        raise _fail(
            path,
            "notify.url_env",
            "must be the name of an environment variable (letters, digits and _, not "
            "starting with a digit); what it holds is not shown, in case it is a secret"
            + (
                ". It looks like a URL: the webhook's URL goes in url (or, to keep it out of "
                "this file, in the environment variable that url_env names)"
                if looks_like_a_url
                else ""
            ),
        )
    choices: dict[str, Any] = {}
    for key, allowed in (("format", FORMATS), ("when", WHENS)):
        value = table.get(key, "json" if key == "format" else "problems")
        if value not in allowed:
            raise _fail(
                path, f"notify.{key}", f"must be one of {', '.join(allowed)}, got {shown(value)}"
            )
        choices[key] = value
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float | Decimal)
        or not Decimal(timeout).is_finite()
        or timeout <= 0
    ):
        raise _fail(path, "notify.timeout", f"must be seconds > 0, got {shown(timeout)}")
    return NotifySettings(
        url,
        url_env,
        format=choices["format"],
        when=choices["when"],
        timeout=float(timeout),
    )


def load_config(path: str | Path) -> Config:
    """Read and check a configuration file.

    Raises:
        ConfigFileError: the file is missing, not TOML, or a setting is wrong.
    """
    path = Path(path)
    try:
        data = tomllib.loads(read_text(path, "the configuration file"), parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{path}: not valid TOML: {error}") from None
    sections = (
        "connectwise",
        "plans",
        "mapping",
        "retired",
        "policy",
        "guardrails",
        "retry",
        "lock",
        "notify",
    )
    _check_keys(path, "", data, sections)
    cw = data.get("connectwise")
    if not isinstance(cw, Mapping):
        raise _fail(path, "connectwise", "the [connectwise] section is missing")
    _check_keys(path, "connectwise", cw, _CONNECTWISE_SETTINGS)
    site_url = _text(path, cw, "site_url", "connectwise", required=False)
    base_url = _text(path, cw, "base_url", "connectwise", required=False)
    if bool(site_url) == bool(base_url):
        raise _fail(path, "connectwise.site_url", "set either site_url or base_url")
    rate = cw.get("rate_limit_per_minute", DEFAULT_RATE_LIMIT_PER_MINUTE)
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | Decimal) or rate <= 0
    ):
        raise _fail(
            path,
            "connectwise.rate_limit_per_minute",
            f"must be a positive number, got {shown(rate)}",
        )
    keys_file = _text(path, cw, "keys_file", "connectwise", required=False)
    company_id = _text(path, cw, "company_id", "connectwise") or ""
    client_id = _text(path, cw, "client_id", "connectwise") or ""
    plans = _plans(path, data.get("plans"))
    api_member = _text(path, cw, "api_member", "connectwise", required=False)
    policy, old_bill_customer = _policy(
        path, data.get("policy"), api_member, data.get("guardrails")
    )
    bill_customer = _bill_customer(
        path,
        ("connectwise.bill_customer", cw.get("bill_customer")),
        ("policy.bill_customer", old_bill_customer),
    )
    return Config(
        path=path,
        site_url=site_url,
        base_url=base_url,
        company_id=company_id,
        client_id=client_id,
        api_version=_text(path, cw, "api_version", "connectwise", required=False)
        or DEFAULT_API_VERSION,
        rate_limit_per_minute=float(rate) if rate is not None else None,
        keys_file=(path.parent / keys_file) if keys_file else None,
        plans=plans,
        mapping=_mapping(path, data.get("mapping"), data.get("retired"), plans),
        policy=policy,
        retry=_retry(path, data.get("retry")),
        bill_customer=bill_customer,
        lock=_lock(path, data.get("lock")),
        notify=_notify(path, data.get("notify")),
    )


def load_credentials(config: Config, environ: Mapping[str, str] | None = None) -> Credentials:
    """The API member's credentials: from `keys_file` if set, else `CW_PUBLIC_KEY` and
    `CW_PRIVATE_KEY`. Key values never appear in errors."""
    if config.keys_file is None:
        return Credentials.from_env(
            config.company_id, config.client_id, environ=environ or os.environ
        )
    try:
        keys = tomllib.loads(read_text(config.keys_file, "connectwise.keys_file"))
    except tomllib.TOMLDecodeError:
        raise ConfigFileError(f"{config.keys_file}: not valid TOML") from None
    for key in ("public_key", "private_key"):
        if not isinstance(keys.get(key), str) or not keys[key]:
            raise ConfigFileError(f"{config.keys_file}: {key} is missing")
    return Credentials(config.company_id, keys["public_key"], keys["private_key"], config.client_id)


def notify_after_run(
    settings: NotifySettings | None,
    report: SyncReport,
    *,
    error: BaseException | None = None,
    environ: Mapping[str, str] | None = None,
) -> NotifyResult | None:
    """Tell `[notify]`'s webhook how the run went, if it is configured and `when` calls for
    it. Nothing it meets changes the run's outcome: a webhook that fails, refuses or does not
    answer, a `url_env` that is not set or holds no URL, is one warning on stderr. The URL is
    never printed.

    Args:
        settings: The `[notify]` section, if there is one.
        report: The run's report (an error that ended the run carries it as `error.report`).
        error: The error that ended the run, if one did: the notification says the run
            stopped, and why.
        environ: Where `url_env` is read (default: `os.environ`).

    Returns:
        What became of the notification; `None` without a `[notify]` section.
    """
    if settings is None:
        return None
    if error is not None and report.stopped is None:
        # The report of a run an error ended holds only what the run did: it may even be ok.
        said = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        report = attrs.evolve(report, stopped=f"the run ended with an error: {said}")
    url = settings.url
    if url is None:
        url = (os.environ if environ is None else environ).get(settings.url_env or "", "")
    if settings.url is None and not _variable_name(settings.url_env):
        # Not shown: it may be the webhook's URL, put in the wrong setting.
        result = NotifyResult(
            "failed", "notify.url_env is not the name of an environment variable (not shown)"
        )
    elif not url.strip():
        result = NotifyResult(
            "failed",
            f"the environment variable {settings.url_env} (notify.url_env) is not set or empty",
        )
    else:
        try:
            result = notify(
                report, url, format=settings.format, when=settings.when, timeout=settings.timeout
            )
        # Whatever it is (a URL that is no URL in the variable, a bug), the run's outcome
        # stands; notify's own messages never hold the URL, anything else's is blanked.
        except Exception as unexpected:
            said = redact(str(unexpected), [url.strip(), url])
            result = NotifyResult("failed", f"{type(unexpected).__name__}: {said}")
    if result.failed:
        print(
            f"connectwise-billing: warning: the notification was not sent: {result.reason} "
            "(the run's outcome and exit status are unchanged)",
            file=sys.stderr,
        )
    return result
