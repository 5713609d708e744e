"""The SDK's logger, `connectwise_billing`: silent unless the application configures logging.

Every module that logs takes this logger, so the `NullHandler` is in place before the first
record; the pure reconciler logs nothing and does not import `logging` at all.
"""

from __future__ import annotations

import logging

from connectwise_billing.defaults import LOGGER_NAME

__all__ = ["logger"]

logger: logging.Logger = logging.getLogger(LOGGER_NAME)
# A library is silent unless the application asks: without this, Python's last-resort handler
# would print the SDK's warnings to stderr of every program that uses it.
logger.addHandler(logging.NullHandler())
