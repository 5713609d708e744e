"""Put mermaid.min.js, pinned and checked, where the docs serve it from (`docs/javascripts/`).

The theme would load Mermaid from a CDN when a page has a diagram; a copy served by the site
itself renders the diagrams offline and fetches nothing from a third party. The file comes from
the npm registry (a package registry, like the Python ones the build installs from), as the
tarball of one exact version whose integrity hash is written here, and is not kept in git.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "11.17.2"
TARBALL = f"https://registry.npmjs.org/mermaid/-/mermaid-{VERSION}.tgz"
INTEGRITY = (
    "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaR"
    "QxULMa80/qt5gHO73aCleBBg=="
)
"""The registry's `dist.integrity` of that version: what is downloaded must match it."""
MEMBER = "package/dist/mermaid.min.js"
TARGET = Path(__file__).resolve().parent.parent / "docs" / "javascripts" / "mermaid.min.js"
STAMP = TARGET.with_name("mermaid.version")


def main() -> int:
    if TARGET.exists() and STAMP.exists() and STAMP.read_text().strip() == VERSION:
        return 0
    with urllib.request.urlopen(TARBALL, timeout=120) as answer:
        data = answer.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != INTEGRITY:
        print(f"fetch_mermaid: {TARBALL} does not match its pinned integrity hash", file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            print(f"fetch_mermaid: {MEMBER} is not in {TARBALL}", file=sys.stderr)
            return 1
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        TARGET.write_bytes(member.read())
    STAMP.write_text(VERSION + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
