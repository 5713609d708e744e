"""The PSA-neutral backend contract: neutral errors the ConnectWise errors derive from, one
classification of a failed write for every PSA, the settle policy, and `line_id` with its
deprecated alias `addition_id`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import attrs
import pytest

from connectwise_billing import (
    AccessDeniedError,
    Addition,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CancelAddition,
    CompanyUsage,
    ConflictError,
    CredentialsRefusedError,
    NotFoundError,
    OperationResult,
    OutcomeUnknownError,
    PermissionDeniedError,
    Plan,
    PlanMapping,
    PSAError,
    PSANotFoundError,
    PSAUnreachableError,
    RateLimiterError,
    RateLimitError,
    Reference,
    RetryPolicy,
    ServerError,
    SettlePolicy,
    UnexpectedResponseError,
    UpdateAddition,
    WriteRefusedError,
    backend as neutral,
    reconcile_agreement,
)
from connectwise_billing._retry import write_outcome
from connectwise_billing.reconcile import Change, UnchangedAddition
from connectwise_billing.runner._backends import settle_of, throttle_budget_of
from connectwise_billing.runner._failures import failure_kind

HTTP: dict[str, Any] = {"method": "POST", "url": "https://cw.example/apis/3.0/x"}


def api(kind: type[Any], status: int, **extra: Any) -> Any:
    return kind("no", status_code=status, **HTTP, **extra)


@pytest.mark.parametrize(
    ("error", "neutral_class"),
    [
        (api(BadRequestError, 400), WriteRefusedError),
        (api(ConflictError, 409), WriteRefusedError),
        (api(PermissionDeniedError, 403), AccessDeniedError),
        (api(NotFoundError, 404), PSANotFoundError),
        (api(AuthenticationError, 401), CredentialsRefusedError),
        (api(ServerError, 502), OutcomeUnknownError),
        (APIConnectionError("refused", **HTTP, request_sent=False), PSAUnreachableError),
        (APITimeoutError("timed out", **HTTP), PSAUnreachableError),
        (UnexpectedResponseError("html", status_code=200, **HTTP), OutcomeUnknownError),
    ],
    ids=lambda value: type(value).__name__,
)
def test_each_connectwise_error_is_a_neutral_one(error: Exception, neutral_class: type) -> None:
    assert isinstance(error, neutral_class) and isinstance(error, PSAError)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (api(BadRequestError, 400), "refused"),
        (api(NotFoundError, 404), "refused"),
        (api(RateLimitError, 429), "not_sent"),
        (api(ServerError, 500, has_error_body=True), "refused"),
        (api(ServerError, 500), "unknown"),
        (api(ServerError, 502, has_error_body=True), "unknown"),
        (APIConnectionError("refused", **HTTP, request_sent=False), "not_sent"),
        (APIConnectionError("dropped", **HTTP, request_sent=True), "unknown"),
        (UnexpectedResponseError("html", status_code=200, **HTTP), "unknown"),
        (RateLimiterError("redis went away"), "not_sent"),
        (OutcomeUnknownError("lost"), "unknown"),
        (PSAUnreachableError("no route"), "not_sent"),
        (WriteRefusedError("no"), "refused"),
        (PSANotFoundError("gone"), "refused"),
        (CredentialsRefusedError("who?"), "refused"),
        (ValueError("not an SDK error"), "unknown"),
    ],
)
def test_the_neutral_classification_is_the_connectwise_one(error: Exception, outcome: str) -> None:
    assert neutral.write_outcome(error) == write_outcome(error) == outcome


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (api(ServerError, 503), "OtherPSA answered 503"),
        (api(RateLimitError, 429), "OtherPSA throttled it"),
        (
            APIConnectionError("refused", **HTTP, request_sent=False),
            "OtherPSA could not be reached",
        ),
        (OutcomeUnknownError("lost"), "OtherPSA could not be reached"),
        (PSAUnreachableError("no route"), "OtherPSA could not be reached"),
        (
            UnexpectedResponseError("html", status_code=200, **HTTP),
            "OtherPSA's answers were not what it sends",
        ),
        (UnexpectedResponseError("bad", status_code=200, **HTTP, record="addition 7"), None),
        (api(NotFoundError, 404), None),
        (WriteRefusedError("no"), None),
    ],
)
def test_a_failure_names_the_psa_by_the_name_it_is_given(
    error: PSAError, failure: str | None
) -> None:
    assert failure_kind(error, "OtherPSA") == failure


def test_a_retry_policy_makes_the_settle_policy_of_the_connectwise_backend() -> None:
    retry = RetryPolicy(settle_timeout=4, settle_interval=1, max_attempts=3, wait=False)
    settle = retry.settle
    assert (settle.settle_timeout, settle.settle_interval, settle.max_attempts, settle.wait) == (
        4,
        1,
        3,
        False,
    )
    assert retry.settle_waits() == settle.settle_waits() == [1, 1, 1, 1]


class _Bare:
    name = "bare"


class _Old:
    """A backend written before `settle`: its `retry` settings still bound the re-reads."""

    name = "old"
    retry = RetryPolicy(settle_timeout=3)


class _New:
    name = "new"
    settle = SettlePolicy(settle_timeout=5)


def test_a_backend_without_settle_gets_the_defaults_or_its_retry_settings() -> None:
    assert settle_of(_Bare()) == SettlePolicy()  # type: ignore[arg-type]
    assert settle_of(_Old()).settle_timeout == 3  # type: ignore[arg-type]
    assert settle_of(_New()).settle_timeout == 5  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [{"settle_timeout": -1}, {"settle_interval": 0}, {"max_attempts": 0}],
)
def test_a_settle_policy_refuses_what_cannot_be_waited(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="SettlePolicy"):
        SettlePolicy(**values)


def test_resend_waits_double_up_to_the_cap() -> None:
    settle = SettlePolicy(initial_backoff=1, max_backoff=3, jitter=False)
    assert [settle.resend_wait(sent) for sent in (1, 2, 3)] == [1, 2, 3]


def _update(**line: int) -> UpdateAddition:
    return UpdateAddition(
        agreement_id=1,
        plan_id="gold",
        plan_name="Gold",
        product_id=3,
        changes={"quantity": Change(Decimal(1), Decimal(2))},
        reason="seats 1 -> 2",
        expected={},
        **line,  # type: ignore[arg-type]
    )


def test_operations_name_their_line_line_id_and_still_answer_to_addition_id() -> None:
    update = _update(line_id=7)
    assert update.line_id == 7 and update._fields[1] == "line_id"
    with pytest.warns(DeprecationWarning, match="use line_id"):
        assert update.addition_id == 7
    with pytest.warns(DeprecationWarning, match="use line_id"):
        assert _update(addition_id=8) == update._replace(line_id=8)
    with pytest.warns(DeprecationWarning, match="use line_id"):
        assert update._replace(addition_id=9).line_id == 9
    with (
        pytest.raises(TypeError, match="line_id only"),
        pytest.warns(DeprecationWarning, match="use"),
    ):
        _update(line_id=7, addition_id=7)
    cancel = CancelAddition(1, 7, "gold", "Gold", 3, date(2026, 11, 28), "no seats left", {})
    unchanged = UnchangedAddition(7, "gold", 3, None, None, None)
    with pytest.warns(DeprecationWarning, match="use line_id"):
        assert cancel.addition_id == unchanged.addition_id == 7


def test_results_name_their_line_line_id_and_still_answer_to_addition_id() -> None:
    update = _update(line_id=7)
    result = OperationResult(update, "applied", 7)
    assert result.line_id == 7 and result.to_dict()["addition_id"] == 7  # the file key stays
    with pytest.warns(DeprecationWarning, match="use line_id"):
        assert result.addition_id == 7
    with pytest.warns(DeprecationWarning, match="use line_id"):
        assert OperationResult(update, "applied", addition_id=7) == result
    with pytest.raises(TypeError, match="unexpected keyword"):
        OperationResult(update, "applied", line=7)


def test_results_evolved_with_the_old_name_take_it() -> None:
    result = OperationResult(_update(line_id=7), "applied", 7)
    with pytest.warns(DeprecationWarning, match="use line_id"):
        assert attrs.evolve(result, addition_id=4).line_id == 4


def test_a_diffs_json_keeps_the_old_key_beside_the_new() -> None:
    diff = reconcile_agreement(
        [Plan("gold", "Gold", cost="3.25", price="8.00")],
        PlanMapping({"gold": 3}),
        CompanyUsage(1, {"gold": 3}),
        [
            Addition(
                id=7, agreement_id=1, product=Reference(id=3), quantity=Decimal(2),
                unit_price=Decimal("8.00"), unit_cost=Decimal("3.25"), bill_customer="Billable",
            )
        ],
        today=date(2026, 11, 28),
    )  # fmt: skip
    [update] = diff.to_dict()["operations"]
    assert update["line_id"] == update["addition_id"] == 7


class _OldWithBudget:
    name = "old"
    retry = RetryPolicy(throttle_budget=60)


def test_a_backend_written_before_settle_policy_keeps_its_throttle_budget() -> None:
    assert throttle_budget_of(_OldWithBudget()) == 60  # type: ignore[arg-type]
    assert throttle_budget_of(_Bare()) is None  # type: ignore[arg-type]
