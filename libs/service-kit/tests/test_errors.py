"""Errors document themselves: a route's `responses=` comes from the classes it raises."""

from __future__ import annotations

from service_kit.errors import (
    Conflict,
    ErrorBody,
    NotFound,
    ServiceError,
    TooManyRequests,
    Unauthorized,
    error_responses,
)


class TestOpenapi:
    def test_an_error_without_headers_documents_its_body_and_detail(self) -> None:
        assert NotFound.openapi() == {"description": "not found", "model": ErrorBody}

    def test_a_description_replaces_the_detail(self) -> None:
        assert Conflict.openapi("email taken")["description"] == "email taken"

    def test_the_headers_a_status_always_carries_are_documented(self) -> None:
        assert Unauthorized.openapi()["headers"] == {
            "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}
        }
        assert TooManyRequests.openapi()["headers"] == {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer"},
            }
        }


class TestErrorResponses:
    def test_one_entry_per_status(self) -> None:
        responses = error_responses(NotFound, (Conflict, "already there"))
        assert responses == {
            404: {"description": "not found", "model": ErrorBody},
            409: {"description": "already there", "model": ErrorBody},
        }

    def test_errors_of_one_status_are_merged_with_their_descriptions_joined(self) -> None:
        class UnknownKey(Unauthorized):
            detail = "unknown key"

        responses = error_responses(Unauthorized, (UnknownKey, "a key nobody knows"))
        assert list(responses) == [401]
        assert responses[401]["description"] == "not authenticated; or a key nobody knows"
        assert "WWW-Authenticate" in responses[401]["headers"]

    def test_no_errors_document_nothing(self) -> None:
        assert error_responses() == {}


class TestRaisedErrors:
    def test_an_error_carries_its_class_detail_unless_given_one(self) -> None:
        assert NotFound().detail == "not found"
        assert NotFound("no such order").detail == "no such order"
        assert str(NotFound("no such order")) == "no such order"

    def test_the_headers_answered_are_the_ones_documented(self) -> None:
        assert ServiceError().headers is None
        assert Unauthorized().headers == {"WWW-Authenticate": "Bearer"}
        assert TooManyRequests(retry_after_seconds=7).headers == {"Retry-After": "7"}
