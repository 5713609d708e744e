"""`python -m connectwise_billing`: the command line."""

import sys

from connectwise_billing.cli import main

sys.exit(main())
