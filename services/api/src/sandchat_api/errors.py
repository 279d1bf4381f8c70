"""Every error answers `{"detail": "<one clear sentence>"}`; never a stack trace.

Log lines name a request by its method and its path cut short and escaped: a path is the
client's text, and may hold newlines that would forge log lines.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Final

from litestar import MediaType, Request, Response
from litestar.exceptions import ClientException, HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from redis.exceptions import RedisError
from sandchat.unavailable import DATABASE_UNAVAILABLE, REDIS_UNAVAILABLE, why
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

NOT_UTF8: Final = "The request body is not valid UTF-8."
# Sentences for the errors Litestar raises with just the status's phrase.
PLAIN_DETAILS: Final = {
    404: "Nothing here: no such path.",
    405: "This path does not take this method.",
    413: "The request body is too large.",
}
TOO_DEEP: Final = "The request body is nested too deeply."


class JSONRequest(Request[Any, Any, Any]):
    """Litestar's request, whose body decoding fails with a 400 for every kind of bad JSON.

    (Litestar reports malformed JSON itself, but lets invalid UTF-8 inside strings and very deep
    nesting escape as a UnicodeDecodeError or a RecursionError.)
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except UnicodeDecodeError:
            raise ClientException(NOT_UTF8) from None
        except RecursionError:
            raise ClientException(TOO_DEEP) from None


def _where(request: Request[Any, Any, Any]) -> str:
    return f"{request.method} {request.url.path[:120]!r}"


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
    # The report may quote the client's input (a field named with a newline): kept on one line.
    return _detail({"status_code": 400, "detail": " ".join(_explain_validation(exc).split())})


def on_http_error(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, str]]:
    if isinstance(exc.__cause__, SerializationException):
        return _detail({"status_code": 400, "detail": "The request body is not valid JSON."})
    detail = str(exc.detail)
    if detail == HTTPStatus(exc.status_code).phrase:  # Litestar's own, e.g. "Method Not Allowed"
        detail = PLAIN_DETAILS.get(exc.status_code, detail)
    if not detail.endswith("."):  # Litestar's own, e.g. "Invalid host header"
        detail = f"{detail}."
    return Response({"detail": detail}, media_type=MediaType.JSON, status_code=exc.status_code, headers=exc.headers)


def on_database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    log.warning("%s: database unavailable: %s", _where(request), why(exc))
    return _detail({"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": DATABASE_UNAVAILABLE})


def on_redis_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    log.warning("%s: redis unavailable: %s", _where(request), type(exc).__name__)
    return _detail({"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": REDIS_UNAVAILABLE})


def on_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    if isinstance(exc, (ConnectionError, OSError)) and not isinstance(exc, HTTPException):
        return on_database_error(request, exc)
    log.error("%s failed", _where(request), exc_info=exc)
    return _detail({"status_code": HTTP_500_INTERNAL_SERVER_ERROR, "detail": "Something went wrong on our side."})


EXCEPTION_HANDLERS: Final = {
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    OperationalError: on_database_error,
    DBAPIError: on_database_error,
    RedisError: on_redis_error,
    Exception: on_unexpected_error,
}
