"""Start the UI: open the stores, build the app, serve it with uvicorn until Ctrl-C."""

from __future__ import annotations

import sys

from ..exceptions import ConfigError
from .settings import UISettings


SERVER_LIBS = ("jinja2", "starlette", "uvicorn")  # the `ui` extra


def _load_server_libs() -> None:
    """Fail with the install command when the UI's extra is missing."""
    import importlib

    for name in SERVER_LIBS:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"artiflow ui needs {name}, which is not installed: pip install 'artiflow[ui]'") from None


def serve(settings: UISettings) -> None:
    """Serve the UI on `settings`' address, reading the stores the client would read here."""
    _load_server_libs()
    import uvicorn

    from ..client.context import get_context
    from .app import create_app

    context = get_context()
    app = create_app(settings, context)
    url = settings.url + (f"?token={settings.token}" if settings.token else "")
    print(f"artiflow ui: reading {context.where()} and {context.config.datastore_root}", file=sys.stderr)
    print(f"artiflow ui: open {url}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                lifespan="off", server_header=False)
