"""One error hierarchy: each error carries its HTTP status, its headers and its OpenAPI response.

Domain errors subclass these; `service_kit.error_handlers` turns a raised one into
`{"detail": ...}` with its status and headers, and routes document what they raise with
`error_responses(...)`, built from the same classes, so the docs cannot drift from the answers.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

# The `responses=` mapping of a FastAPI route.
Responses = dict[int | str, dict[str, Any]]


class ErrorBody(BaseModel):
    """Every error answer of the platform (422 validation errors carry FastAPI's list instead)."""

    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """FastAPI's 422 for a request that does not validate: one issue per field (the input itself
    is never echoed, see error_handlers)."""

    detail: list[ValidationIssue]


class ServiceError(Exception):
    """An expected failure that maps to a 4xx (or 503) response with a `detail` message."""

    status_code: ClassVar[int] = 400
    detail = "bad request"
    # The headers this status always carries, for the OpenAPI document: name → (type, description).
    documented_headers: ClassVar[dict[str, tuple[str, str]]] = {}

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or type(self).detail
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str] | None:
        """Response headers the status needs (RFC 9110): the error carries them itself."""
        return None

    @classmethod
    def openapi(cls, description: str | None = None) -> dict[str, Any]:
        """The OpenAPI response object of this error: its description, body and headers."""
        doc: dict[str, Any] = {"description": description or cls.detail, "model": ErrorBody}
        if cls.documented_headers:
            doc["headers"] = {
                name: {"description": text, "schema": {"type": kind}}
                for name, (kind, text) in cls.documented_headers.items()
            }
        return doc


class Unauthorized(ServiceError):
    status_code = 401
    detail = "not authenticated"
    documented_headers = {"WWW-Authenticate": ("string", "`Bearer`")}

    @property
    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    status_code = 403
    detail = "forbidden"


class NotFound(ServiceError):
    status_code = 404
    detail = "not found"


class Conflict(ServiceError):
    status_code = 409
    detail = "conflict"


class Unprocessable(ServiceError):
    """A request that is well-formed but cannot be carried out as it stands."""

    status_code = 422
    detail = "unprocessable request"


class TooManyRequests(ServiceError):
    status_code = 429
    detail = "rate limit exceeded"
    documented_headers = {"Retry-After": ("integer", "seconds to wait before trying again")}

    def __init__(self, detail: str | None = None, retry_after_seconds: int = 60) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after_seconds)}


class Unavailable(ServiceError):
    status_code = 503
    detail = "service unavailable"


def error_responses(
    *errors: type[ServiceError] | tuple[type[ServiceError], str], invalid: str | None = None
) -> Responses:
    """A route's `responses=` for the errors it may answer with, each a class or (class,
    description); errors of one status are documented together, their descriptions joined.
    `invalid` describes what makes the request itself invalid: FastAPI's 422 list, documented
    beside a domain error's 422 `{"detail": "..."}` when the route has one."""
    merged: Responses = {}
    for entry in errors:
        error, description = entry if isinstance(entry, tuple) else (entry, None)
        doc = error.openapi(description)
        known = merged.get(error.status_code)
        if known is not None:
            doc["description"] = f"{known['description']}; or {doc['description']}"
        merged[error.status_code] = doc
    if invalid is not None:
        domain = merged.get(422)
        if domain is None:
            merged[422] = {"description": invalid, "model": ValidationErrorBody}
        else:
            both = f"{invalid}; or (`detail` a string) {domain['description']}"
            merged[422] = {"description": both, "model": ValidationErrorBody | ErrorBody}
    return merged
