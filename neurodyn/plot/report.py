"""Self-contained HTML reports: headings, text, tables and figures embedded as PNG.

A report is one ``.html`` file with every figure inlined (base64 PNG), so it can be mailed,
archived or opened offline. Figures are closed after rendering.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from neurodyn._validation import fail

__all__ = ["Report", "figure_to_png"]

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figcaption { font-size: .9em; color: #555; }
img { max-width: 100%; } pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
.meta { color: #666; font-size: .85em; }
"""


def figure_to_png(fig: Any, *, dpi: int = 90, close: bool = True) -> bytes:
    """Render a matplotlib figure to PNG bytes (and close it when it came from pyplot).

    Example:
        >>> from matplotlib.figure import Figure
        >>> fig = Figure(); _ = fig.subplots().plot([0, 1])
        >>> figure_to_png(fig)[:4]
        b'\\x89PNG'
    """
    if not hasattr(fig, "savefig"):
        fail("fig", "a matplotlib Figure", type(fig).__name__, exc=TypeError)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.4g}"
    return html.escape(str(value))


class Report:
    """An HTML report assembled section by section.

    Args:
        title: the page title.

    Example:
        >>> import tempfile, pathlib
        >>> rep = Report("demo")
        >>> rep.heading("Numbers")
        >>> rep.table([["a", 1.0]], header=["name", "value"])
        >>> path = rep.save(pathlib.Path(tempfile.mkdtemp()) / "report.html")
        >>> "<table>" in path.read_text()
        True
    """

    def __init__(self, title: str) -> None:
        self.title = str(title)
        self._parts: list[str] = []
        self.data: dict[str, Any] = {}

    def heading(self, text: str, level: int = 2) -> None:
        """Add a heading (``level`` 2 or 3)."""
        if level not in (2, 3):
            fail("level", "2 or 3", level)
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str) -> None:
        """Add a paragraph (plain text, escaped)."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def status(self, label: str, passed: bool, detail: str = "") -> None:
        """Add a pass/fail line."""
        cls, word = ("pass", "PASS") if passed else ("fail", "FAIL")
        self._parts.append(
            f'<p><span class="{cls}">{word}</span> {html.escape(label)}'
            f"{' — ' + html.escape(detail) if detail else ''}</p>"
        )

    def code(self, text: str) -> None:
        """Add preformatted text (commands, logs)."""
        self._parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> None:
        """Add a table; floats are shown with 4 significant digits."""
        out = ["<table>"]
        if header is not None:
            out.append(
                "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"
            )
        for row in rows:
            out.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
        out.append("</table>")
        self._parts.append("".join(out))

    def figure(self, fig: Any, caption: str = "", *, dpi: int = 90) -> None:
        """Add a matplotlib figure as an embedded PNG (the figure is closed)."""
        png = base64.b64encode(figure_to_png(fig, dpi=dpi)).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(
            f'<figure><img src="data:image/png;base64,{png}" '
            f'alt="{html.escape(caption)}"/>{cap}</figure>'
        )

    def record(self, key: str, value: Any) -> None:
        """Store a number/string in the machine-readable results (saved beside the HTML)."""
        self.data[str(key)] = value

    def html(self) -> str:
        """The complete HTML document."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        body = "\n".join(self._parts)
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1>"
            f"<p class='meta'>generated {stamp} by neurodyn</p>\n{body}</body></html>"
        )

    def save(self, path: str | Path) -> Path:
        """Write the HTML (and ``<name>.json`` with :meth:`record` values when any)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html(), encoding="utf-8")
        if self.data:
            path.with_suffix(".json").write_text(
                json.dumps(self.data, indent=2, default=float), encoding="utf-8"
            )
        return path
