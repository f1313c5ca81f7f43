"""What a raised exception becomes: always JSON with a `detail`, never a traceback.

A `ServiceError` answers with its own status and headers; a request that fails validation keeps
FastAPI's 422 list without the input; a value the database refuses is a 422; a lost database
connection is a 503 and anything else a logged 500.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service_kit.errors import ServiceError

log = structlog.get_logger(__name__)

# Connection failures recognised by class name. The HTTP engines run on asyncpg, which each
# service declares and service-kit does not, so its classes cannot be imported here. asyncpg
# raises the first two unwrapped while connecting to a server that is starting or stopping and
# when a connection drops mid-query; "InterfaceError" is PEP 249's name for a broken link to the
# database, given alike to SQLAlchemy's wrapper, its asyncpg adapter's class and asyncpg's own.
# SQLAlchemy itself maps driver exceptions to its classes by these names.
_CONNECTION_FAILURE_NAMES = frozenset(
    {"CannotConnectNowError", "ConnectionDoesNotExistError", "InterfaceError"}
)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(DBAPIError, _on_database_error)


def unexpected_error(request: Request, exc: Exception) -> Response:
    """A lost database connection is a 503; anything else a logged 500. Never a traceback."""
    if _is_connection_failure(exc):
        log.error("database.unavailable", error=type(exc).__name__)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)
    log.error("http.unhandled_error", path=request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


async def _on_service_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _on_invalid_request(_: Request, exc: Exception) -> Response:
    """FastAPI's 422 list, without echoing the input (it may hold a password, a huge body, or
    values JSON cannot carry, such as NaN or a lone surrogate)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [_safe_error(e) for e in exc.errors()]}, status_code=422)


async def _on_data_error(_: Request, exc: Exception) -> Response:
    log.info("database.data_error", error=type(getattr(exc, "orig", exc)).__name__)
    return JSONResponse({"detail": "a value cannot be stored"}, status_code=422)


async def _on_database_error(request: Request, exc: Exception) -> Response:
    return unexpected_error(request, exc)


def _safe_error(error: Any) -> dict[str, Any]:
    kept = {k: v for k, v in dict(error).items() if k not in {"input", "url"}}
    return {k: _json_safe(v) for k, v in kept.items()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _json_safe(str(value))


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from or during."""
    cause: BaseException | None = exc
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__


def is_lost_connection(exc: BaseException) -> bool:
    """The link to the database is gone (the server restarted or closed it): the error itself,
    or one it was raised from, is a connection failure by class name or a ConnectionError."""
    return any(
        isinstance(c, ConnectionError) or type(c).__name__ in _CONNECTION_FAILURE_NAMES
        for c in causes(exc)
    )


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return is_lost_connection(exc) or any(
        isinstance(c, (OSError, TimeoutError, PoolTimeout)) for c in causes(exc)
    )
