"""Quickstart: connect, list products, sync one company.

Runs against the bundled simulator; for your own ConnectWise, use your site URL and
`Credentials.from_env("your company id", "your clientId")`, and your own plans and usage.
"""

from connectwise_billing import ConnectWiseClient, SyncPolicy, sync_company
from connectwise_billing.testing import build_example


def main() -> None:
    example = build_example(companies=10)  # stands in for ConnectWise and your control panel
    with (
        example.fake.serve_site() as site_url,
        ConnectWiseClient.from_site(site_url, example.credentials) as client,
    ):
        print(f"Connected to {client.base_url}")

        for product in client.products.search("MBX"):
            print(f"  product {product.id}: {product.identifier} at {product.price}")

        contoso = next(u for u in example.usages if u.company == "Contoso Ltd")
        policy = SyncPolicy(api_member="CloudPanelAPI")
        preview = sync_company(
            client, example.plans, example.mapping, contoso, policy, dry_run=True
        )
        print(preview.agreements[0].diff)

        report = sync_company(client, example.plans, example.mapping, contoso, policy)
        print(report.summary())


if __name__ == "__main__":
    main()
