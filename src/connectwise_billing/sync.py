"""Deprecated: the package that runs syncs is `connectwise_billing.runner` (a name that does not
read as sync-versus-async), and its names are at the package root.

`from connectwise_billing.sync import sync_all` still works for one release, with a
`DeprecationWarning`; the modules that were inside (`connectwise_billing.sync.audit`, ...) are
private now: their public names are in `connectwise_billing.runner`.
"""

import warnings
from typing import Any

from connectwise_billing import runner


def __getattr__(name: str) -> Any:
    if name not in runner.__all__:
        raise AttributeError(f"module 'connectwise_billing.sync' has no attribute {name!r}")
    warnings.warn(
        f"connectwise_billing.sync is deprecated: import {name} from connectwise_billing (or "
        "connectwise_billing.runner) instead",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(runner, name)


def __dir__() -> list[str]:
    return sorted(runner.__all__)
