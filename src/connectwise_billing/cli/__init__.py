"""The `connectwise-billing` command line (stdlib argparse), and what it reads, for applications
that run syncs their own way (a job queue, a scheduler) from the same files: the configuration
([`load_config`][connectwise_billing.cli._config.load_config]) and the usage file
([`load_usage`][connectwise_billing.cli._usage.load_usage])."""

from connectwise_billing.cli._config import (
    Config,
    ConfigFileError,
    LockSettings,
    NotifySettings,
    load_config,
    load_credentials,
)
from connectwise_billing.cli._main import main
from connectwise_billing.cli._usage import load_usage

__all__ = [
    "Config",
    "ConfigFileError",
    "LockSettings",
    "NotifySettings",
    "load_config",
    "load_credentials",
    "load_usage",
    "main",
]
