"""One error hierarchy: domain errors carry their HTTP status; handlers turn them into JSON."""

from __future__ import annotations


class ServiceError(Exception):
    """An expected failure that maps to a 4xx response with a `detail` message."""

    status_code = 400
    detail = "bad request"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or type(self).detail
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str] | None:
        """Response headers the status needs (RFC 9110): the error carries them itself."""
        return None


class Unauthorized(ServiceError):
    status_code = 401
    detail = "not authenticated"

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


class TooManyRequests(ServiceError):
    status_code = 429
    detail = "rate limit exceeded"

    def __init__(self, detail: str | None = None, retry_after_seconds: int = 60) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after_seconds)}


class Unavailable(ServiceError):
    status_code = 503
    detail = "service unavailable"
