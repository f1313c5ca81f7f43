"""Schema fuzzing: schemathesis against the live `/openapi.json` of auth-service and
orders-service, with a real token. No 5xx, every response matches its documented schema, every
status a service answers with is documented, and what the schema allows is accepted."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import CheckFunction
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.clients import Stack, User

# Enough cases to cover each operation's parameters, few enough to stay under the per-user and
# per-IP rate limits of a stack running with its defaults.
FUZZ = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

# Rules JSON Schema cannot state, so a schema-valid request can still be refused (and is, with
# the documented 422): a password is 8..72 bytes of UTF-8, not characters (bcrypt's limit); an
# order's `total_price`, when sent, must equal the items' sum, and the sum must fit NUMERIC(12,2);
# a quantity is an integer strictly, so 2.0 is refused; a random Idempotency-Key met again with
# another body is the documented 422. Every other check applies to these operations too.
NOT_EXPRESSIBLE: dict[tuple[str, str], list[CheckFunction]] = {
    ("POST", "/register/"): [positive_data_acceptance],
    ("POST", "/orders/"): [positive_data_acceptance],
}


# Last: the fuzzing spends the per-IP budgets of /register/ and /token/ and alice's per-user one.
@pytest.mark.last
@pytest.mark.parametrize("service", ["AUTH", "ORDERS"])
def test_every_operation_answers_as_documented(stack: Stack, alice: User, service: str) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.url(service)}/openapi.json")
    operations = [_loaded(result) for result in schema.get_all_operations()]
    assert operations, "the schema lists no operation"
    for operation in operations:
        excluded = NOT_EXPRESSIBLE.get((operation.method.upper(), operation.path), [])
        _fuzz(operation, alice.auth, excluded)


def _loaded(result: Ok[APIOperation[Any, Any, Any, Any]] | Err[InvalidSchema]) -> Any:
    if isinstance(result, Err):
        raise AssertionError(f"an operation of the schema is invalid: {result.err()}")
    return result.ok()


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    headers: dict[str, str],
    excluded: list[CheckFunction],
) -> None:
    @FUZZ
    @given(case=operation.as_strategy())
    def answers_as_documented(case: Case[Any]) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    answers_as_documented()
