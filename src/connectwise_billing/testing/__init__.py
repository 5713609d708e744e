"""A ConnectWise Manage simulator for tests, demos and benchmarks.

```python
from connectwise_billing import ConnectWiseClient
from connectwise_billing.testing import FakeConnectWise

fake = FakeConnectWise()
company = fake.add_company("Contoso Ltd")
agreement = fake.add_agreement(company)
client = ConnectWiseClient(
    "https://cw.example/v2025_1/apis/3.0", fake.credentials, transport=fake.transport()
)
assert [a.id for a in client.agreements.list(company_id=company)] == [agreement]
```

See the "Use the simulator" guide for what it models and how to inject faults.
"""

from connectwise_billing._waits import Clock, TestingMode, is_testing, set_testing
from connectwise_billing.testing._clock import RealTime, TimeSource, VirtualClock
from connectwise_billing.testing._example import ExampleMSP, build_example
from connectwise_billing.testing._fake import FakeConnectWise
from connectwise_billing.testing._faults import ALL_FAULT_KINDS, Fault, FaultKind, FaultPlan
from connectwise_billing.testing._http import LoggedRequest, Outcome
from connectwise_billing.testing._recording import vcr_config
from connectwise_billing.testing._records import (
    StoredAddition,
    StoredAgreement,
    StoredCompany,
    StoredProduct,
    StoredReference,
)
from connectwise_billing.testing._store import Member

__all__ = [
    "ALL_FAULT_KINDS",
    "Clock",
    "ExampleMSP",
    "FakeConnectWise",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "LoggedRequest",
    "Member",
    "Outcome",
    "RealTime",
    "StoredAddition",
    "StoredAgreement",
    "StoredCompany",
    "StoredProduct",
    "StoredReference",
    "TestingMode",
    "TimeSource",
    "VirtualClock",
    "build_example",
    "is_testing",
    "set_testing",
    "vcr_config",
]
