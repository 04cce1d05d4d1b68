"""The web UI: `artiflow ui` serves runs, graphs, timelines, logs, artifacts, metrics, cards and lineage.

It reads the same stores the client reads and writes nothing. Starlette, Jinja2 and uvicorn are
imported only here, when the UI starts (`pip install 'artiflow[ui]'`).
"""
