"""connectwise-billing: keep ConnectWise Manage agreement additions in step with what you sell.

The public API, importable from the package root:

- the client layer: `ConnectWiseClient`, `AsyncConnectWiseClient`, `Credentials`, `RetryPolicy`,
  the models (`Product`, `Company`, `Agreement`, `Addition`, `NewAddition`) and the condition
  builder (`Field`, `Condition`);
- reconciliation: `Plan`, `PlanMapping`, `CompanyUsage`, `SyncPolicy`, `reconcile_agreement`,
  `reconcile_all` and the diff types (`AgreementDiff`, `CreateAddition`, `UpdateAddition`,
  `CancelAddition`);
- sync: `apply_diff`, `sync_company`, `sync_all`, their async twins, `refresh_plan_prices`,
  `run_every` and the reports (`CompanyReport`, `SyncReport`);
- notifications: `notify`, `async_notify` (one POST of a report's summary to a webhook);
- the PSA-neutral billing backend the sync writes through (`BillingBackend`,
  `AsyncBillingBackend`, `AgreementState`, `CatalogItem`, `SettlePolicy`, and the neutral errors
  rooted at `PSAError`) and ConnectWise's (`ConnectWiseBackend`, `AsyncConnectWiseBackend`);
- the locks that keep two syncs off one agreement: `InProcessLock`, `FileLock`, `RedisLock`
  (the `Lock` protocol is in `connectwise_billing.locks`);
- the error tree rooted at `ConnectWiseBillingError`.

The names are declared once, in this package's stub (`__init__.pyi`, what type checkers read);
`__all__` and the loading below are read from it. Importing the package is cheap: each name is
imported on first use (PEP 562, the scientific Python "lazy loading" pattern), so
`from connectwise_billing import reconcile_agreement` loads no HTTP library.
"""

# Imported under private names: the package's public names are exactly `__all__`.
import ast as _ast
import importlib as _importlib
from pathlib import Path as _Path

# The reconciliation module, bound eagerly: it is pure, and loads no HTTP library.
from connectwise_billing import reconcile as reconcile
from connectwise_billing._version import __version__ as __version__


def _declared() -> dict[str, str]:
    """Public name -> the module that defines it, as the stub declares them."""
    stub = _ast.parse(_Path(__file__).with_suffix(".pyi").read_text(encoding="utf-8"))
    return {
        alias.asname or alias.name: node.module
        for node in stub.body
        if isinstance(node, _ast.ImportFrom) and node.module
        for alias in node.names
    }


_EXPORTS = _declared()

__all__ = sorted(_EXPORTS)  # noqa: PLE0605 (the list is the stub's, read above)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'connectwise_billing' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
