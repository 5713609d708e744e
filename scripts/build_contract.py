"""Regenerate the repository's ConnectWise contract from the shared OpenAPI subset.

The contract keeps only structural facts (paths, methods, parameter names, request and response
schemas with property types, `required` and enums) and none of ConnectWise's descriptions, so
that tests and the simulator run anywhere without the shared reference.

    python scripts/build_contract.py [path/to/connectwise-manage-openapi-subset.json]

Three deliberate differences from the source, each for a documented reason:

1. `clientId` is a required header: the source repository relaxed it to optional, ConnectWise
   requires it on every call (SOURCE.md, "Known differences").
2. `PatchOperation.value` accepts any JSON value: the source types it `object`, but scalar values
   are what ConnectWise takes in practice (SOURCE.md, "Things worth knowing").
3. OpenAPI's `nullable: true` becomes JSON Schema's `["<type>", "null"]`, so that `jsonschema`
   reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "connectwise-manage-openapi-subset.json"
TARGET = ROOT / "src" / "connectwise_billing" / "testing" / "contract.json"
KEPT_SCHEMA_KEYS = ("type", "format", "enum", "required", "items", "additionalProperties")


def schema(node: dict[str, Any]) -> dict[str, Any]:
    """A schema stripped to structure, with `$ref`s pointing into the contract's `schemas`."""
    if "$ref" in node:
        return {"$ref": node["$ref"].replace("#/components/schemas/", "#/schemas/")}
    out: dict[str, Any] = {}
    for key in KEPT_SCHEMA_KEYS:
        if key not in node:
            continue
        value = node[key]
        out[key] = schema(value) if isinstance(value, dict) else value
    if "properties" in node:
        out["properties"] = {name: schema(prop) for name, prop in node["properties"].items()}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def parameters(operation: dict[str, Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {"path": [], "query": [], "header": []}
    for parameter in operation.get("parameters", []):
        grouped[parameter["in"]].append(parameter["name"])
    return grouped


def required_headers(operation: dict[str, Any]) -> list[str]:
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
    return [name for name in names if name == "clientId"]


def body_schema(content: dict[str, Any]) -> dict[str, Any] | None:
    for media in content.values():
        if "schema" in media:
            return schema(media["schema"])
    return None


def build(source: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, operations in source["paths"].items():
        for method, operation in operations.items():
            entry: dict[str, Any] = {
                "parameters": parameters(operation),
                "requiredHeaders": required_headers(operation),
                "responses": {
                    status: body_schema(response.get("content", {}))
                    for status, response in operation["responses"].items()
                },
            }
            if "requestBody" in operation:
                entry["requestBody"] = body_schema(operation["requestBody"]["content"])
            paths.setdefault(path, {})[method] = entry
    schemas = {name: schema(node) for name, node in source["components"]["schemas"].items()}
    schemas["PatchOperation"]["properties"]["value"] = {}
    return {
        "source": {
            "title": source["info"]["title"],
            "version": source["info"]["version"],
            "generatedBy": "scripts/build_contract.py",
        },
        "paths": paths,
        "schemas": schemas,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--check", action="store_true", help="fail if the contract is stale")
    args = parser.parse_args(argv)
    contract = build(json.loads(args.source.read_text()))
    text = json.dumps(contract, indent=1, sort_keys=False) + "\n"
    if args.check:
        if TARGET.read_text() != text:
            print(f"{TARGET} is stale: run scripts/build_contract.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(contract['paths'])} paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
