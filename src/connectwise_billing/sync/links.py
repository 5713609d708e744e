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

LEGAL_SUFFIXES: Final = frozenset(
    {
        "ab", "ag", "as", "bv", "co", "company", "corp", "corporation", "gmbh", "inc",
        "incorporated", "kg", "limited", "llc", "llp", "lp", "ltd", "nv", "oy", "plc", "pty",
        "sa", "sarl", "sas", "spa", "srl",
    }
)  # fmt: skip
"""Words a company name may end with that say nothing about which company it is."""

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


def _forms(name: str) -> set[str]:
    """The forms a name is recognised by: normalised, and run together with and without its
    legal suffix, as identifiers are written (`ContosoLtd`)."""
    normalised = normalise_company_name(name)
    return {normalised, normalised.replace(" ", ""), "".join(_words(name))} - {""}


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
    wanted = _forms(usage.company)
    known = {
        form
        for text in (state.company_name, state.company_identifier)
        if text
        for form in _forms(text)
    }
    if not wanted or wanted & known:
        return None
    return (
        f"{agreement} belongs to {owner} in {psa}, but the usage names {usage.company!r}; "
        "nothing written: link the right agreement, or give the usage the company_id of the "
        "company if the names differ on purpose"
    )
