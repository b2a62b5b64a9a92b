"""Server-side SVG charts (no JavaScript): labelled column charts with values in text, so nothing
depends on colour and screen readers get a summary (``role="img"`` and ``aria-label``)."""

from __future__ import annotations

from html import escape

BAR = "#1f4e79"  # 8.9:1 on white (WCAG AA needs 3:1 for graphics)
AXIS = "#4a4a4a"


def column_chart(title: str, series: list[tuple[str, int]], *, width: int = 640, height: int = 160) -> str:
    """An SVG column chart of ``series`` (``[(label, value)]``, e.g. ISO dates and counts).

    Every column has a ``<title>`` (hover/focus text ``label: value``); the maximum and the total are
    printed, and the chart's ``aria-label`` summarises it.
    """
    n = max(len(series), 1)
    top = max((v for _, v in series), default=0)
    total = sum(v for _, v in series)
    left, bottom, head = 36, 22, 18
    plot_w, plot_h = width - left - 6, height - bottom - head
    bw = plot_w / n
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
         f'aria-label="{escape(title)}: {total} in total, at most {top} a day" class="chart">'),
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="12" font-size="12" fill="{AXIS}">{escape(title)} (total {total}, max {top})</text>',
        f'<line x1="{left}" y1="{head + plot_h}" x2="{width - 6}" y2="{head + plot_h}" stroke="{AXIS}"/>',
        f'<text x="{left - 4}" y="{head + 8}" font-size="10" text-anchor="end" fill="{AXIS}">{top}</text>',
        f'<text x="{left - 4}" y="{head + plot_h}" font-size="10" text-anchor="end" fill="{AXIS}">0</text>',
    ]
    for i, (label, value) in enumerate(series):
        h = 0 if top == 0 else plot_h * value / top
        x = left + i * bw
        parts.append(f'<rect x="{x + 1:.1f}" y="{head + plot_h - h:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" '
                     f'fill="{BAR}"><title>{escape(label)}: {value}</title></rect>')
    if series:
        parts.append(f'<text x="{left}" y="{height - 6}" font-size="10" fill="{AXIS}">{escape(series[0][0])}</text>')
        parts.append(f'<text x="{width - 6}" y="{height - 6}" font-size="10" text-anchor="end" fill="{AXIS}">{escape(series[-1][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_list(title: str, items: list[tuple[str, int]], *, width: int = 640) -> str:
    """A horizontal SVG bar chart of ``items`` (``[(label, value)]``) with label and value beside each bar."""
    row = 22
    height = 20 + row * max(len(items), 1)
    top = max((v for _, v in items), default=0)
    label_w, value_w = 170, 50
    plot_w = width - label_w - value_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}: ' + escape(", ".join(f"{k} {v}" for k, v in items) or "none") + '" class="chart">',
             f"<title>{escape(title)}</title>",
             f'<text x="0" y="12" font-size="12" fill="{AXIS}">{escape(title)}</text>']
    if not items:
        parts.append(f'<text x="0" y="34" font-size="12" fill="{AXIS}">none yet</text>')
    for i, (label, value) in enumerate(items):
        y = 20 + i * row
        w = 0 if top == 0 else plot_w * value / top
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="12" text-anchor="end" fill="#111">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{BAR}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12" fill="#111">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)
