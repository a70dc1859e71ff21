"""A tiny document model rendered twice: Markdown (report.md) and self-contained HTML (report.html).

One source for both, so the two files can never say different things.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str  # plain text; `code` spans in backticks are kept


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    path: Path  # absolute path of the PNG
    rel: str  # path relative to the run directory (for report.md)
    caption: str


@dataclass(frozen=True)
class Pre:
    text: str


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks: object) -> None:
        self.blocks.extend(blocks)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {i}" for i in b.items] + [""]
        elif isinstance(b, Table):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---" for _ in b.header) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
            out.append("")
        elif isinstance(b, Figure):
            out += [f"![{b.caption}]({b.rel})", "", f"*{b.caption}*", ""]
        elif isinstance(b, Pre):
            out += ["```", b.text.rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    """Escapes, then turns `code` spans and **bold** into HTML."""
    parts = str(text).split("`")
    out = []
    for i, p in enumerate(parts):
        e = html.escape(p)
        if i % 2:
            out.append(f"<code>{e}</code>")
        else:
            bold = e.split("**")
            out.append("".join(f"<strong>{s}</strong>" if j % 2 else s for j, s in enumerate(bold)))
    return "".join(out)


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}
tr:nth-child(even) td{background:#fafafa}
code{background:#f4f4f4;padding:0 .2em;border-radius:3px}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.88em}
figure{margin:1em 0 2em}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-style:italic;color:#555}
.caption{font-style:italic;color:#555;margin-bottom:.2em}
"""


def to_html(doc: Document) -> str:
    """Self-contained: CSS inline, every figure embedded as a base64 PNG."""
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{html.escape(doc.title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{html.escape(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            cap = f"<div class=\"caption\">{_inline(b.caption)}</div>" if b.caption else ""
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            out.append(f"{cap}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Figure):
            data = base64.b64encode(Path(b.path).read_bytes()).decode("ascii")
            out.append(f"<figure><img alt=\"{html.escape(b.caption)}\" src=\"data:image/png;base64,{data}\">"
                       f"<figcaption>{_inline(b.caption)}</figcaption></figure>")
        elif isinstance(b, Pre):
            out.append(f"<pre>{html.escape(b.text)}</pre>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
