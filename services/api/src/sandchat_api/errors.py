"""Every error answers `{"detail": "<one clear sentence>"}`; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any, Final

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE: Final = "The database is unavailable; try again in a moment."
REDIS_UNAVAILABLE: Final = "Redis is unavailable; try again in a moment."


def _detail(body: dict[str, Any]) -> Response[dict[str, str]]:
    return Response(body, media_type=MediaType.JSON, status_code=int(body.pop("status_code")))


def _explain_validation(exc: ValidationException) -> str:
    """Turn Litestar's validation report into one sentence a person can act on."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "")).strip()
        key = item.get("key")
        source = item.get("source")
        if message:
            source = getattr(source, "value", source)
            where = f"{source} parameter {key!r}" if source in ("query", "path") and key else None
            if where:
                return f"Invalid {where}: {message}."
            if key:
                return f"Invalid request body: {key}: {message}."
            return f"Invalid request body: {message}."
    detail = str(exc.detail)
    if detail.startswith("Validation failed"):
        return "The request is not valid."
    return detail if detail.endswith(".") else f"{detail}."


def on_validation_error(_request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, str]]:
    return _detail({"status_code": 400, "detail": _explain_validation(exc)})


def on_http_error(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, str]]:
    if isinstance(exc.__cause__, SerializationException):
        return _detail({"status_code": 400, "detail": "The request body is not valid JSON."})
    return Response(
        {"detail": str(exc.detail)}, media_type=MediaType.JSON, status_code=exc.status_code, headers=exc.headers
    )


def on_database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, type(exc).__name__)
    return _detail({"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": DATABASE_UNAVAILABLE})


def on_redis_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    log.warning("%s %s: redis unavailable: %s", request.method, request.url.path, type(exc).__name__)
    return _detail({"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": REDIS_UNAVAILABLE})


def on_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    if isinstance(exc, (ConnectionError, OSError)) and not isinstance(exc, HTTPException):
        return on_database_error(request, exc)
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _detail({"status_code": HTTP_500_INTERNAL_SERVER_ERROR, "detail": "Something went wrong on our side."})


EXCEPTION_HANDLERS: Final = {
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    OperationalError: on_database_error,
    DBAPIError: on_database_error,
    RedisError: on_redis_error,
    Exception: on_unexpected_error,
}
