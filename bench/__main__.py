"""The benchmark's command line: ``python -m bench [--quick] [--runs N] [--only NAMES]``.

Starts the servers, runs every client on every workload, prints the table
and writes it (with the machine description) to ``bench/results/``:
``latest.rst`` and ``latest.json`` for a full run (the docs include the
``.rst``), ``quick.*`` for ``--quick``, ``partial.*`` for ``--only``. Exits 1 when
any client failed a workload it supports (unsupported cells and hyper
pieces not written yet are not failures), 2 when the servers cannot start.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import machine, report, runner
from .process import Pinning
from .servers import Lab, LabError
from .workloads import BENCH_DIR, CLIENTS, WORKLOADS, Workload

log = logging.getLogger("bench")

#: Runs per cell in a full run and in a quick one (the median is reported).
FULL_RUNS = 5
QUICK_RUNS = 1
#: Where results are written.
RESULTS_DIR = BENCH_DIR / "results"
NOTES = (
    "Medians of the runs shown; MB/s is 10**6 bytes per second; ratios above 1 are faster.",
    "Python clients are timed from before their connection is opened (TLS handshake included)"
    " to the last byte, excluding interpreter start; h2load reports its own time; curl's is"
    " its process's wall time.",
    "Peak RSS is ru_maxrss of the client process (for the Python clients, the interpreter"
    " with its imports included).",
    "A run slower than 20 s is not repeated (marked slow).",
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run per cell")
    parser.add_argument("--runs", type=int, help="runs per cell (default 5, quick 1)")
    parser.add_argument("--only", help="comma-separated workload names to run")
    parser.add_argument("--output", type=Path, help="results file stem (default by mode)")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _selected(only: str | None) -> tuple[Workload, ...]:
    if not only:
        return WORKLOADS
    names = {name.strip() for name in only.split(",")}
    unknown = names - {workload.name for workload in WORKLOADS}
    if unknown:
        raise SystemExit(
            f"unknown workloads: {sorted(unknown)}; known: {[w.name for w in WORKLOADS]}"
        )
    return tuple(workload for workload in WORKLOADS if workload.name in names)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = _arguments(argv)
    workloads = _selected(args.only)
    runs = args.runs or (QUICK_RUNS if args.quick else FULL_RUNS)
    load_at_start = machine.load_average()
    pinning = Pinning.choose()
    pinning.pin_harness()
    started = time.monotonic()
    try:
        with Lab(workloads, args.quick) as lab:
            cells = runner.run_all(lab, workloads, CLIENTS, runs, pinning)
    except LabError as exc:
        log.error("cannot start the servers: %s", exc)
        return 2
    rows = report.build_rows(workloads, CLIENTS, cells, args.quick)
    mode = f"{'quick' if args.quick else 'full'}, {runs} run(s) per cell"
    about = machine.describe(cells, pinning.describe(), mode, load_at_start)
    default = "partial" if args.only else ("quick" if args.quick else "latest")
    stem = args.output or RESULTS_DIR / default
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".rst").write_text(report.render_rst(rows, about, NOTES))
    payload = {
        "machine": about,
        "cells": {f"{w} / {c}": cell.as_dict() for (w, c), cell in cells.items()},
    }
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    sys.stdout.write(report.render_text(rows))
    sys.stdout.write("\n" + "\n".join(f"{key}: {value}" for key, value in about.items()) + "\n")
    failed = report.failures(cells)
    for line in failed:
        log.error("FAILED %s", line)
    log.info(
        "%s in %.0f s; table written to %s",
        mode,
        time.monotonic() - started,
        stem.with_suffix(".rst"),
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
