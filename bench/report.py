"""Turn the cells into the table: medians, ratios to the best Python peer and to the C reference.

For every workload, the best Python peer is the highest median among
httpx, niquests and pycurl, and the C reference the highest among curl
and h2load; every client's median is shown as an absolute figure and as
a ratio to each (above 1: faster). The same rows are rendered as aligned
text for the terminal and as an reStructuredText ``list-table`` (with a
description of the machine, gathered at run time) for the docs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .runner import Cell
from .workloads import C_REFERENCES, PYTHON_PEERS, Client, Workload

#: Columns of the table.
HEADERS = (
    "Workload",
    "Client",
    "Median",
    "vs best Python peer",
    "vs C reference",
    "Peak RSS",
    "Runs",
)
#: What the table shows for each status other than ``ok``.
STATUS_TEXT = {"unsupported": "unsupported", "missing": "n/a", "failed": "FAILED"}
#: Longest reason shown in a cell (the JSON file keeps the whole of it).
DETAIL_WIDTH = 60


@dataclass(frozen=True)
class Row:
    """One line of the table, as text."""

    workload: str
    client: str
    median: str
    vs_python: str
    vs_c: str
    rss: str
    runs: str

    def cells(self) -> tuple[str, ...]:
        """The row's columns, in :data:`HEADERS` order."""
        return (
            self.workload,
            self.client,
            self.median,
            self.vs_python,
            self.vs_c,
            self.rss,
            self.runs,
        )


def _best(cells: Mapping[str, Cell], names: Sequence[str]) -> tuple[str, float] | None:
    found = [(cells[name].median, name) for name in names if name in cells]
    ranked = [(value, name) for value, name in found if value is not None]
    if not ranked:
        return None
    value, name = max(ranked)
    return name, value


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"


def _ratio(value: float | None, best: tuple[str, float] | None) -> str:
    if value is None or best is None or best[1] <= 0:
        return ""
    return f"{value / best[1]:.2f} ({best[0]})"


def _status_text(cell: Cell) -> str:
    text = STATUS_TEXT.get(cell.status, cell.status)
    if not cell.detail or cell.status == "unsupported":
        return text
    detail = " ".join(cell.detail.split())
    if cell.status == "missing":  # "HTTP20Adapter missing: <import error>" -> "n/a (HTTP20...)"
        return f"{text} ({detail.split(':', 1)[0]})"
    if len(detail) > DETAIL_WIDTH:
        detail = detail[: DETAIL_WIDTH - 3] + "..."
    return f"{text}: {detail}"


def _figures(cell: Cell, unit: str) -> tuple[str, str, str]:
    """The median (or why there is none), the peak RSS and the run count, as text."""
    median = cell.median
    if median is None:
        return _status_text(cell), "", ""
    rss = f"{max(cell.rss_kib) / 1024:,.0f} MiB" if cell.rss_kib else ""
    runs = f"{len(cell.values)}{' (slow)' if cell.capped else ''}"
    return f"{_number(median)} {unit}", rss, runs


def workload_rows(
    workload: Workload, clients: Sequence[Client], cells: Mapping[str, Cell], quick: bool
) -> list[Row]:
    """The rows of one workload, one per client, the workload's title on the first."""
    best_python = _best(cells, PYTHON_PEERS)
    best_c = _best(cells, C_REFERENCES)
    rows: list[Row] = []
    for client in clients:
        cell = cells[client.name]
        if client.listed_only_where_supported and cell.status == "unsupported":
            continue
        median = cell.median
        shown, rss, runs = _figures(cell, workload.unit)
        rows.append(
            Row(
                "" if rows else workload.title_for(quick),
                client.name,
                shown,
                _ratio(median, best_python),
                _ratio(median, best_c),
                rss,
                runs,
            )
        )
    return rows


def build_rows(
    workloads: Sequence[Workload],
    clients: Sequence[Client],
    cells: Mapping[tuple[str, str], Cell],
    quick: bool,
) -> list[Row]:
    """Every row of the table (``quick`` picks the sizes named in the titles)."""
    rows: list[Row] = []
    for workload in workloads:
        by_client = {client.name: cells[workload.name, client.name] for client in clients}
        rows.extend(workload_rows(workload, clients, by_client, quick))
    return rows


def render_text(rows: Sequence[Row]) -> str:
    """The table as aligned plain text, a blank line between workloads."""
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = []
    for number, line in enumerate(table):
        if number > 1 and line[0]:
            lines.append("")
        lines.append(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"


def _rst_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("|", "\\|")


def render_rst(rows: Sequence[Row], machine: Mapping[str, str], notes: Sequence[str]) -> str:
    """The machine description, the table as a ``list-table``, and the run's notes, as rST."""
    lines = [".. This file is written by ``make bench`` (python -m bench); do not edit it.", ""]
    lines += [f"* **{key}**: {_rst_escape(value)}" for key, value in machine.items()]
    lines += ["", ".. list-table::", "   :header-rows: 1", "   :widths: auto", ""]
    for line in (HEADERS, *(row.cells() for row in rows)):
        lines.append(f"   * - {_rst_escape(line[0])}")
        lines += [f"     - {_rst_escape(text)}" if text else "     -" for text in line[1:]]
    if notes:
        lines.append("")
        lines += [f"* {_rst_escape(note)}" for note in notes]
    return "\n".join(lines) + "\n"


def failures(cells: Mapping[tuple[str, str], Cell]) -> list[str]:
    """``workload / client: why`` for every failed cell."""
    return [
        f"{workload} / {client}: {cell.detail}"
        for (workload, client), cell in cells.items()
        if cell.status == "failed"
    ]
