"""The HTML shell every built-in card uses: one self-contained page, inline CSS, nothing fetched."""

from __future__ import annotations

import html
from typing import Iterable

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa; --accent: #0969da;
        --bad: #cf222e; --badbg: #ffebe9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 24px 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.subtitle { color: var(--muted); margin-bottom: 16px; }
section.af-card-section { margin: 16px 0; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
pre { background: var(--soft); padding: 8px 12px; overflow: auto; border-radius: 6px; max-height: 480px; }
:not(pre) > code { background: var(--soft); padding: 1px 4px; border-radius: 4px; }
img { max-width: 100%; height: auto; }
figure { margin: 8px 0; } figcaption { color: var(--muted); font-size: 12px; }
.af-error { border: 1px solid var(--bad); background: var(--badbg); border-radius: 6px; padding: 8px 12px;
            margin: 8px 0; }
.af-error h3 { color: var(--bad); margin-top: 0; }
.af-progress { margin: 8px 0; } .af-progress progress { width: 320px; height: 14px; vertical-align: middle; }
.af-progress .label { margin-right: 8px; } .af-progress .value { color: var(--muted); margin-left: 8px; }
.af-muted { color: var(--muted); }
details summary { cursor: pointer; color: var(--accent); }
svg text { font: 11px sans-serif; fill: var(--fg); }
svg text.af-axis-label { fill: var(--muted); }
.af-metric-row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.af-metric-summary table { margin-top: 0; } .af-metric-summary h4 { margin: 0 0 2px; font-size: 13px; }
"""


def esc(value: object) -> str:
    """Text made safe to put inside HTML."""
    return html.escape(str(value), quote=True)


def page(title: str, body: Iterable[str], subtitle: str = "") -> str:
    """A complete HTML document around body fragments."""
    sub = f'<div class="subtitle">{esc(subtitle)}</div>' if subtitle else ""
    content = "\n".join(body)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main><h1>{esc(title)}</h1>{sub}\n{content}\n</main></body></html>\n"
    )


def table_html(headers: list[str] | None, rows: Iterable[Iterable[str]]) -> str:
    """A table from cells that are already HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers) if headers else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{body}</tbody></table>"
