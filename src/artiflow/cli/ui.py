"""`artiflow ui`: the web UI over this machine's stores (see docs/ui.md)."""

from __future__ import annotations

import click

from .errors import friendly_errors


@click.command("ui", help="Serve the web UI: runs, graphs, timelines, logs, artifacts, metrics, cards and lineage, "
                          "read from the stores the client reads (ARTIFLOW_METADATA_URL, ARTIFLOW_DATASTORE_ROOT). "
                          "Read-only. Listens on 127.0.0.1 unless --host says otherwise; any other address needs "
                          "--token (or ARTIFLOW_UI_TOKEN).")
@click.option("--host", default=None, help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="TCP port.  [default: 8200]")
@click.option("--token", default=None, help="A secret every request must bring (16 characters or more); "
                                            "also ARTIFLOW_UI_TOKEN.")
@friendly_errors
def ui_command(host: str | None, port: int | None, token: str | None) -> None:
    from ..ui.server import serve
    from ..ui.settings import ui_settings

    serve(ui_settings(host, port, token))


def register(group: click.Group) -> None:
    """Add `ui` to the `artiflow` command group."""
    group.add_command(ui_command)
