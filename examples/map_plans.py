"""Map plans to products and link a company's agreement: what an admin does once.

Searches the product catalog for each plan, finds the company and its agreements, and writes
the `[mapping]` section of a configuration file: into the directory given with `--out`, or a
temporary one. Runs against the bundled simulator.

    python examples/map_plans.py --out ./billing
"""

import argparse
import tempfile
from pathlib import Path

from connectwise_billing import ConnectWiseClient
from connectwise_billing.testing import build_example

PLAN_SEARCHES = {"basic-10": "BASIC", "gold-50": "GOLD", "platinum-100": "PLAT"}


def main(output: Path) -> None:
    example = build_example(companies=10)
    with example.fake.serve() as api_url, ConnectWiseClient(api_url, example.credentials) as client:
        mapping: dict[str, int] = {}
        for plan_id, text in PLAN_SEARCHES.items():
            candidates = [p for p in client.products.search(text) if p.product_class == "Agreement"]
            if len(candidates) != 1:
                print(f"{plan_id}: {len(candidates)} candidates, map it by hand")
                continue
            mapping[plan_id] = candidates[0].id
            print(f"{plan_id} -> product {candidates[0].id} ({candidates[0].identifier})")

        [company] = client.companies.search("Fabrikam")
        for agreement in client.agreements.list(company_id=company.id):
            status = agreement.agreement_status
            print(f"{company.name}: agreement {agreement.id} {agreement.name!r} ({status})")

    lines = ["[mapping]", *(f"{plan} = {product}" for plan, product in mapping.items())]
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, help="where to write mapping.toml (default: a temp dir)"
    )
    directory = parser.parse_args().out or Path(tempfile.mkdtemp(prefix="connectwise-billing-"))
    directory.mkdir(parents=True, exist_ok=True)
    main(directory / "mapping.toml")
