"""The UI's ASGI application: pages from ui/ modules, static files, and the guards every request passes.

Every page module has `routes() -> list[Route]`; the app mounts them with the static files and
wraps them in `guard` (read-only, token, host check, security headers). Pages read the stores
through `reader(request)`, one request at a time: the SQLite connection is shared.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..exceptions import ArtiflowException, NotFound
from . import filters
from .guard import guard
from .settings import UISettings

if TYPE_CHECKING:
    from ..client.context import Context

HERE = Path(__file__).parent
PAGE_MODULES = ("runs", "run", "task")  # ui/<name>.py, each with routes()
templates = Jinja2Templates(directory=str(HERE / "templates"))
filters.install(templates.env)


class Reader:
    """The stores the UI reads, shared by the server's worker threads one at a time."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Context]:
        with self._lock:
            yield self.context


def reader(request: Request) -> Reader:
    """The reader of the app serving `request`."""
    return request.app.state.reader


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """A page rendered from ui/templates (autoescaped: every value shown is text, never markup)."""
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def health(request: Request) -> JSONResponse:
    """What the server reads: tests and scripts poll it to know the server is up."""
    with reader(request)() as ctx:
        return JSONResponse({"ok": True, "metadata": ctx.where(), "datastore": ctx.config.datastore_root})


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return page(request, "error.html", status_code=status, title=title, message=message)


async def _not_found(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, NotFound) else f"Nothing is at {request.url.path}."
    return _error_page(request, 404, "Not found", message)


async def _user_error(request: Request, exc: ArtiflowException) -> Response:
    return _error_page(request, 400, exc.headline, exc.message)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return await _not_found(request, exc)
    return _error_page(request, exc.status_code, "Error", str(exc.detail))


def _routes() -> list[Route | Mount]:
    routes: list[Route | Mount] = [Route("/api/health", health)]
    for name in PAGE_MODULES:
        routes.extend(importlib.import_module(f"{__package__}.{name}").routes())
    routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    return routes


def create_app(settings: UISettings, context: Context) -> Any:
    """The UI as an ASGI app reading `context`'s stores, guarded as `settings` say."""
    from ..client.context import namespace

    namespace(None)  # the UI shows every user's runs
    app = Starlette(routes=_routes(), exception_handlers={
        NotFound: _not_found, ArtiflowException: _user_error, HTTPException: _http_error})
    app.state.reader = Reader(context)
    app.state.settings = settings
    return guard(app, settings)
