"""A small Markdown-to-HTML converter for the Markdown component (no dependency, escapes raw HTML).

It covers what card text needs: headings, paragraphs, emphasis, inline code, fenced code, lists,
block quotes, links, images, horizontal rules. Raw HTML in the text is shown as text.
"""

from __future__ import annotations

import re

from .page import esc

_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)"), lambda m: f'<img alt="{m.group(1)}" src="{_safe_url(m.group(2))}">'),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), lambda m: f'<a href="{_safe_url(m.group(2))}">{m.group(1)}</a>'),
    (re.compile(r"\*\*(.+?)\*\*|__(.+?)__"), lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])"),
     lambda m: f"<em>{m.group(1) or m.group(2)}</em>"),
    (re.compile(r"~~(.+?)~~"), lambda m: f"<del>{m.group(1)}</del>"),
]


def _safe_url(url: str) -> str:
    return url if not url.lower().lstrip().startswith("javascript:") else "#"


def inline(text: str) -> str:
    """Inline markup of one line (escaped first; code spans are left as they are)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{esc(part[1:-1])}</code>")
            continue
        piece = esc(part)
        for pattern, repl in _INLINE:
            piece = pattern.sub(repl, piece)
        out.append(piece)
    return "".join(out)


def to_html(text: str) -> str:
    """Markdown text as an HTML fragment."""
    lines = str(text).replace("\r\n", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    list_kind: str | None = None
    i = 0

    def flush_para() -> None:
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()

    def close_list() -> None:
        nonlocal list_kind
        if list_kind:
            out.append(f"</{list_kind}>")
            list_kind = None

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush_para()
            close_list()
            lang = stripped[3:].strip()
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            cls = f' class="language-{esc(lang)}"' if lang else ""
            out.append(f"<pre><code{cls}>{esc(chr(10).join(code))}</code></pre>")
            i += 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", stripped)
        bullet = re.match(r"^[-*+]\s+(.*)$", stripped)
        numbered = re.match(r"^\d+[.)]\s+(.*)$", stripped)
        if not stripped:
            flush_para()
            close_list()
        elif heading:
            flush_para()
            close_list()
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif re.match(r"^(\*\s*){3,}$|^(-\s*){3,}$|^(_\s*){3,}$", stripped):
            flush_para()
            close_list()
            out.append("<hr>")
        elif bullet or numbered:
            flush_para()
            kind = "ul" if bullet else "ol"
            if list_kind != kind:
                close_list()
                out.append(f"<{kind}>")
                list_kind = kind
            out.append(f"<li>{inline((bullet or numbered).group(1))}</li>")  # type: ignore[union-attr]
        elif stripped.startswith(">"):
            flush_para()
            close_list()
            quote = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                quote.append(lines[i].strip()[1:].lstrip())
                i += 1
            out.append(f"<blockquote>{to_html(chr(10).join(quote))}</blockquote>")
            continue
        else:
            close_list()
            para.append(stripped)
        i += 1
    flush_para()
    close_list()
    return "\n".join(out)
