"""What every request to the UI passes: read-only methods, the token, the Host header, security headers.

A plain ASGI wrapper (no per-request objects beyond what it checks), so a download still streams.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from .settings import UISettings, is_loopback

COOKIE = "artiflow_ui_token"
READ_METHODS = {"GET", "HEAD"}
# pages: scripts and styles only from the UI itself; data in JSON blocks; cards in sandboxed frames of the UI
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
NO_STORE = (b"cache-control", b"no-store")  # pages and data are live; static files may be kept an hour
STATIC_CACHE = (b"cache-control", b"max-age=3600")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def guard(app: Any, settings: UISettings) -> Any:
    """`app` behind the UI's checks."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        refusal = _refusal(scope, settings)
        if refusal is not None:
            await _plain(send, *refusal)
            return
        if settings.token is not None and _token_in_query(scope) == settings.token:
            await _redirect_with_cookie(scope, send, settings.token)
            return
        await app(scope, receive, _with_headers(send, scope["path"].startswith("/static/")))

    return guarded


def _refusal(scope: Scope, settings: UISettings) -> tuple[int, str, list] | None:
    """Why the request is refused (status, text, extra headers), or None."""
    if scope["method"] not in READ_METHODS:
        return 405, "The artiflow UI is read-only: it answers GET and HEAD only.", [(b"allow", b"GET, HEAD")]
    headers = dict(scope["headers"])
    if is_loopback(settings.host) and not _is_local_host(headers.get(b"host", b"").decode("latin-1")):
        return 400, ("This artiflow UI answers requests addressed to this machine only (the Host header must be "
                     "127.0.0.1, localhost or [::1])."), []
    if settings.token is not None and not _has_token(headers, scope, settings.token):
        return 401, ("This artiflow UI needs its token. Open the address `artiflow ui` printed (it ends in "
                     "?token=...), or send the header `Authorization: Bearer <token>`."), \
            [(b"www-authenticate", b'Bearer realm="artiflow"')]
    return None


def _is_local_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return is_loopback(name.strip("[]")) if name else False


def _has_token(headers: dict[bytes, bytes], scope: Scope, token: str) -> bool:
    given = [_token_in_query(scope)]
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        given.append(auth[7:].strip())
    cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
    if COOKIE in cookie:
        given.append(cookie[COOKIE].value)
    return any(value is not None and hmac.compare_digest(value.encode(), token.encode()) for value in given)


def _token_in_query(scope: Scope) -> str | None:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("token")


async def _redirect_with_cookie(scope: Scope, send: Send, token: str) -> None:
    """The token came in the address: keep it in a cookie and show the address without it."""
    query = urlencode([(k, v) for k, v in parse_qsl(scope["query_string"].decode("latin-1")) if k != "token"])
    location = scope["path"] + (f"?{query}" if query else "")
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await _plain(send, 303, "", [(b"location", location.encode()), (b"set-cookie", cookie.encode())])


async def _plain(send: Send, status: int, text: str, headers: list) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS, NO_STORE, *headers]})
    await send({"type": "http.response.body", "body": body})


def _with_headers(send: Send, static: bool) -> Send:
    """`send`, adding the security headers to the response's start (a page's own policy is kept)."""

    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"content-security-policy" for name, _ in headers):
                headers.append((b"content-security-policy", PAGE_POLICY.encode()))
            message = {**message, "headers": headers + HEADERS + [STATIC_CACHE if static else NO_STORE]}
        await send(message)

    return sending
