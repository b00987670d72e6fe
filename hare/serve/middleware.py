"""What stands between the network and the routes: error bodies, the API key and the body's size and time.

Every failure leaves as an OpenAI-style `{"error": {...}}` body with the right status: malformed
JSON and invalid fields 400 (OpenAI's status for both), a missing or wrong key 401, unknown routes
404, a body that does not arrive in time 408, oversized bodies 413, a full queue 503 with
`Retry-After`; an unexpected exception becomes a 500 body for that one request while the server
keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.serve.engine import ServerBusy
from hare.serve.openai_schema import ApiError, error_body

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

log = logging.getLogger("hare.serve")
BODY_METHODS = {"POST", "PUT", "PATCH"}
_TYPE_LABEL = re.compile(r"[\[(]|^(str|int|float|bool)$")  # pydantic's names for the members of a union


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    from fastapi.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


BODY_UNREADABLE = "There was an error parsing the body"  # FastAPI's detail when the body does not decode or parse


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """One readable line (and the offending field) from pydantic's error list.

    For a field that may take several types pydantic reports one error per type; our own checks
    (`value_error`, e.g. a lone surrogate) say the most, and the type labels are left out of the path.
    """
    first = next((e for e in errors if e.get("type") == "value_error"), errors[0] if errors else
                 {"msg": "invalid request", "loc": ()})
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})", None
    loc = [str(part) for part in first.get("loc", ()) if part != "body" and not _TYPE_LABEL.search(str(part))]
    param = ".".join(loc) or None
    message = str(first["msg"]).removeprefix("Value error, ")  # pydantic's label for our own checks' messages
    return (f"{param}: {message}" if param else message), param


def install(app: FastAPI, api_key: str | None, max_body_bytes: int, body_timeout_s: float) -> None:
    """Add the exception handlers, the API-key check on /v1 and the body-size limit to `app`."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        kind = request.headers.get("content-type", "")
        if "json" not in kind and any(tuple(e.get("loc", ())) == ("body",) for e in err.errors()):
            # FastAPI reads only JSON bodies; any other type arrives as raw bytes and "Input should be a valid
            # dictionary" would not say why.
            return _json(400, error_body(f"the request body must be JSON, sent with 'Content-Type: "
                                         f"application/json' (got {kind[:60] or 'no Content-Type'!r})"))
        if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "missing" for e in err.errors()):
            return _json(400, error_body("the request body is empty; send a JSON object (see the OpenAI API "
                                         "reference for this endpoint's fields)"))  # pydantic: "Field required"
        message, param = _validation_message(list(err.errors()))
        return _json(400, error_body(message, param=param))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError) -> JSONResponse:
        return _json(err.status, err.body())

    @app.exception_handler(HareError)
    async def user_error(_: Request, err: HareError) -> JSONResponse:
        return _json(400, error_body(str(err)))

    @app.exception_handler(ServerBusy)
    async def busy(_: Request, err: ServerBusy) -> JSONResponse:
        return _json(503, error_body(f"server busy: {err}", "server_error", code="server_busy"), {"Retry-After": "1"})

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        if err.status_code == 400 and err.detail == BODY_UNREADABLE:  # FastAPI's words for what json.loads raised
            return _json(400, error_body("the request body is not valid JSON: not UTF-8 text, or nested deeper "
                                         "than the parser goes; send UTF-8 JSON"))
        return _json(err.status_code, error_body(str(err.detail), code=str(err.status_code)), err.headers)

    @app.exception_handler(Exception)
    async def crash(_: Request, err: Exception) -> JSONResponse:
        log.exception("request failed")
        return _json(500, error_body(f"internal error: {type(err).__name__}", "server_error"))

    if api_key:
        app.add_middleware(RequireKey, key=api_key)
    app.add_middleware(BodyLimit, limit=max_body_bytes, timeout_s=body_timeout_s)


class RequireKey:
    """Answer 401 to /v1 requests without `Authorization: Bearer KEY` (compared in constant time)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.expected = app, key.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            scheme, _, given = dict(scope["headers"]).get(b"authorization", b"").partition(b" ")
            # The scheme's case is the client's (RFC 9110: "bearer KEY" is as good); the key's is not.
            if not (secrets.compare_digest(given, self.expected) and scheme.lower() == b"bearer"):
                response = _json(401, error_body("missing or incorrect API key; send 'Authorization: Bearer KEY'",
                                                 code="invalid_api_key"))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413) before any route parses them, and bodies that do not
    arrive within `timeout_s` (408).

    The body is read here (it is small by definition) and replayed to the app, which is what lets a
    chunked upload without Content-Length be refused as surely as one that declares its size.
    """

    def __init__(self, app: Any, limit: int, timeout_s: float) -> None:
        self.app, self.limit, self.timeout_s = app, limit, timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_big = declared.isdigit() and int(declared) > self.limit
        chunks: list[bytes] = []
        size, more = 0, not too_big
        try:
            async with asyncio.timeout(self.timeout_s):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                    more = size <= self.limit and message.get("more_body", False)
        except TimeoutError:
            response = _json(408, error_body(f"the request body did not arrive within {self.timeout_s:g} s "
                                             f"({size} bytes came); send the whole body", code="request_timeout"),
                             {"Connection": "close"})
            await response(scope, receive, send)
            return
        if too_big or size > self.limit:
            response = _json(413, error_body(f"request body larger than {self.limit} bytes", code="request_too_large"))
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
