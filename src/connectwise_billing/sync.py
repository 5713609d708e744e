"""Deprecated: the package that runs syncs is `connectwise_billing.runner` (a name that does not
read as sync-versus-async); most of its names are at the package root too.

`from connectwise_billing.sync import sync_all` still works for one release, with a
`DeprecationWarning` when this module is first imported. The modules that were inside
(`connectwise_billing.sync.audit`, ...) are private now: their public names are in
`connectwise_billing.runner`.
"""

import warnings as _warnings

from connectwise_billing.runner import *  # noqa: F403
from connectwise_billing.runner import __all__ as __all__  # noqa: PLC0414 (re-exported)

_warnings.warn(
    "connectwise_billing.sync is deprecated: import its names from connectwise_billing.runner "
    "instead; it goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)
