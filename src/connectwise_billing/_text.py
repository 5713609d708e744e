"""Text for people: counts, money and tables that fit 100 columns, and names from the PSA made
safe to print. Shared by the reports and the command line."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Final

WIDTH: Final = 100
"""The columns a text report and the command line's tables fit in."""


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 agreement`, `2 agreements`."""
    return f"{count} {singular if count == 1 else many or singular + 's'}"


def money(value: Decimal | None) -> str:
    """`1,234.50`; `-` when absent."""
    return "-" if value is None else f"{value:,.2f}"


_UNPRINTABLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (a terminal runs `ESC ]...` as a command) and the marks that reorder
text on screen (a right-to-left override makes "1,200.00" read as "00.002,1")."""


def printable(text: str) -> str:
    """`text` safe to print on a terminal: control characters and bidirectional overrides
    from ConnectWise's data (a company name, a description) shown as escapes."""
    return _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode(), text)


def wrap(text: str, indent: str = "  ") -> list[str]:
    """`text` wrapped to the width, continuation lines indented further."""
    return textwrap.wrap(
        printable(text),
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "    ",
        break_on_hyphens=False,
    )


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: frozenset[int] = frozenset()
) -> str:
    """A plain text table; columns in `right` are right-aligned (money, counts); the widest
    column is cut so the table fits the width."""
    rows = [[printable(str(cell)) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    overflow = sum(widths) + 2 * (len(widths) - 1) - WIDTH
    if overflow > 0:
        widest = widths.index(max(widths))
        widths[widest] = max(10, widths[widest] - overflow)

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            text = cell if len(cell) <= widths[i] else cell[: widths[i] - 1] + "~"
            parts.append(text.rjust(widths[i]) if i in right else text.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def unreachable(name: str) -> str:
    """The failure of a PSA that cannot be reached (`ConnectWise could not be reached`)."""
    return f"{name} could not be reached"
