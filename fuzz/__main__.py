"""The fuzzing command line: ``python -b -m fuzz [TARGET ...] [--seconds N]``.

Runs each named target (by default ``http11``, ``decoders`` and
``http20``; ``http11-wire`` runs when named) for ``--seconds`` (default: ``$FUZZ_SECONDS``, else
:data:`DEFAULT_SECONDS`), prints each finding as it is made, then one summary
line per target: examples tried, time, memory, findings. Exits 1 if any
target made a finding. ``--reproduce BLOB`` (with one target) runs a finding's
shrunk example again, from the blob printed with it, and lets its exception
and full traceback out. Pass ``-b`` to Python: bytes/str comparisons
in hyper then raise (hypothesis's own are silenced).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

import hypothesis
from hypothesis.errors import DidNotReproduce

from fuzz import DEFAULT_TARGETS, TARGETS
from fuzz._engine import Finding, Report, reproduce, run_target
from fuzz._watchdog import backstop

#: Seconds per target when neither ``--seconds`` nor ``$FUZZ_SECONDS`` says.
DEFAULT_SECONDS = 20.0
#: Extra seconds past its budget after which a stuck target kills the process.
BACKSTOP_MARGIN = 600.0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    parser.add_argument(
        "targets", nargs="*", help=f"of {', '.join(TARGETS)} (default: {' '.join(DEFAULT_TARGETS)})"
    )
    parser.add_argument("--seconds", type=float, help="budget per target (default $FUZZ_SECONDS)")
    parser.add_argument("--seed", type=int, help="master seed (default random)")
    parser.add_argument("--reproduce", metavar="BLOB", help="replay one finding's example")
    args = parser.parse_args(argv)
    unknown = [name for name in args.targets if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {list(TARGETS)}")
    if args.seconds is None:
        args.seconds = float(os.environ.get("FUZZ_SECONDS") or DEFAULT_SECONDS)
    if not args.seconds > 0:
        parser.error("--seconds must be positive")
    if args.reproduce and len(args.targets) != 1:
        parser.error("--reproduce needs exactly one target")
    return args


def _quiet_warnings() -> None:
    # hypothesis compares bytes with ints in its example cache; hyper must not.
    warnings.filterwarnings("ignore", category=BytesWarning, module=r"hypothesis(\.|$)")
    warnings.filterwarnings("error", category=BytesWarning, module=r"(hyper|fuzz)(\.|$)")
    warnings.filterwarnings("ignore", message="Generating overly large repr")


def _print_finding(found: Finding) -> None:
    print(f"\nFINDING {found.render()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz targets; the exit status."""
    args = _arguments(argv)
    _quiet_warnings()
    logging.basicConfig(level=logging.CRITICAL)  # hyper's errors are collected, not printed
    names = args.targets or list(DEFAULT_TARGETS)
    if args.reproduce:
        text = args.reproduce
        if text[:2] in ("b'", 'b"'):  # pasted as the bytes literal of the note
            text = text[2:-1]
        blob = text.encode("ascii")
        try:
            reproduce(TARGETS[names[0]], (hypothesis.__version__, blob))  # raises what it finds
        except DidNotReproduce:
            print("the example passed: the finding no longer reproduces")
        return 0
    reports: list[Report] = []
    for name in names:
        print(f"fuzzing {name} for {args.seconds:.0f} s ...", flush=True)
        backstop(args.seconds + BACKSTOP_MARGIN)
        report = run_target(TARGETS[name], args.seconds, seed=args.seed, on_finding=_print_finding)
        reports.append(report)
        backstop(None)
        print(report.summary(), flush=True)
    print("\nsummary:")
    for report in reports:
        print(f"  {report.summary()}")
        for found in report.findings:
            print(f"    - {found.signature}: {found.summary.splitlines()[0]}")
    return 1 if any(report.findings for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
