"""MkDocs hooks: diagrams stay out of the search index.

A Mermaid diagram is source text until the browser draws it; indexed, a search for "sync"
would list lines of diagram syntax. Material's search skips any element marked
`data-search-exclude`.
"""

from __future__ import annotations

from typing import Any

MERMAID = '<pre class="mermaid">'


def on_page_content(html: str, **_: Any) -> str:
    """Mark every diagram as excluded from search."""
    return html.replace(MERMAID, '<pre class="mermaid" data-search-exclude>')
