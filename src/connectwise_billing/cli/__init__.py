"""The `connectwise-billing` command line (stdlib argparse)."""

from connectwise_billing.cli.main import main

__all__ = ["main"]
