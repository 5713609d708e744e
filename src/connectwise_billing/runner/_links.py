"""Whether a linked agreement belongs to the customer the usage names.

A usage row points at an agreement by id. A typo or a stale link points it at another
customer's agreement, and a sync would bill that customer for seats it never had. So before
anything is written, the agreement's company (as the PSA describes it) is compared with the
usage: by id when the usage gives `company_id`, else by name, normalised so that
`"Contoso, Ltd."` and `"CONTOSO LTD"` and `"Contoso"` meet.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from connectwise_billing.backend import AgreementState
    from connectwise_billing.reconcile import CompanyUsage

__all__ = ["LEGAL_SUFFIXES", "company_mismatch", "normalise_company_name"]

LEGAL_SUFFIXES: Final[frozenset[str]] = frozenset(
    {
        "ab", "ag", "as", "bv", "corp", "corporation", "gmbh", "inc", "incorporated", "kg",
        "limited", "llc", "llp", "lp", "ltd", "nv", "oy", "plc", "pty", "sa", "sarl", "sas",
        "spa", "srl",
    }
)  # fmt: skip
"""Legal forms a company name may end with, set aside when names are compared. "Co" and
"Company" are not among them: "Jones" and "Jones Company" are often two businesses."""

_NOT_WORD: Final = re.compile(r"[^\w]+")


def _words(name: str) -> list[str]:
    text = unicodedata.normalize("NFKC", name).casefold().replace("&", " and ")
    return _NOT_WORD.sub(" ", text).replace("_", " ").split()


def normalise_company_name(name: str) -> str:
    """`name` as compared: Unicode NFKC, case-folded, punctuation and spacing collapsed, and
    trailing legal suffixes dropped (`"Contoso Pty. Ltd."` -> `"contoso"`).

    Examples:
        >>> normalise_company_name("Northwind Traders, LLC")
        'northwind traders'
        >>> normalise_company_name("  CONTOSO   pty ltd ")
        'contoso'
    """
    words = _words(name)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def _compact(name: str) -> str:
    """The whole name run together, legal form included, as identifiers are written
    (`Contoso Ltd` -> `contosoltd`)."""
    return "".join(_words(name))


def _describe(state: AgreementState) -> str:
    name = state.company_name or "a company without a name"
    return f"{name} (company {state.company_id})" if state.company_id is not None else name


def company_mismatch(usage: CompanyUsage, state: AgreementState, psa: str) -> str | None:
    """Why the agreement must not be written for `usage`: it belongs to another company than
    the usage names. `None` when it matches, or when there is nothing to compare (the usage
    names no company, or the PSA `psa` does not say whose the agreement is)."""
    if state.company_id is None and state.company_name is None:
        return None
    owner = _describe(state)
    agreement = f"agreement {usage.agreement_id}"
    if usage.company_id is not None:
        if state.company_id is None or state.company_id == usage.company_id:
            return None
        named = (
            f"{usage.company} (company {usage.company_id})"
            if usage.company
            else (f"company {usage.company_id}")
        )
        return (
            f"{agreement} belongs to {owner} in {psa}, not to {named} as the usage says; "
            "nothing written: link the right agreement"
        )
    if not usage.company:
        return None
    compact = _compact(usage.company)
    if not compact:
        return (
            f"the usage names the company of {agreement} {usage.company!r}, which has nothing "
            "to compare (no letters or digits); nothing written: give the usage the company's "
            "company_id"
        )
    # The name as normalised, or run together (`ContosoLtd`); an identifier only run together
    # with the legal form: a short identifier ("ABC") is the first word of many a company.
    name = state.company_name or ""
    if normalise_company_name(usage.company) == normalise_company_name(name):
        return None
    if compact in {_compact(name), _compact(state.company_identifier or "")}:
        return None
    return (
        f"{agreement} belongs to {owner} in {psa}, but the usage names {usage.company!r}; "
        "nothing written: link the right agreement, or give the usage the company_id of the "
        "company if the names differ on purpose"
    )
