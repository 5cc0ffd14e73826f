"""The time-budgeted fuzzing engine: hypothesis batches, a hang watchdog, findings.

A :class:`Target` is a hypothesis strategy and a ``check`` function that
returns normally for every input the code under test handles correctly (it
catches the :class:`~hyper.common.exceptions.HyperError` the API may raise
and asserts its invariants). :func:`run_target` calls ``check`` in batches of
fresh, seeded hypothesis runs until the time budget is spent. Any exception
that escapes ``check``, an example that runs past its time limit (a
:class:`Hang`, raised into the stuck thread by the :class:`Watchdog`) or an
error logged by hyper (its last-resort handlers log bugs they contain) is a
*finding*: hypothesis shrinks it and the engine records the minimal example,
its seed and a ``@reproduce_failure`` blob, then keeps searching with that
finding's signature suppressed, so one bug is reported once. Batches are
short so hypothesis's own bookkeeping does not grow over a long run, and the
resident memory and the allocated blocks are sampled once the caches are warm
(:data:`WARM_UP`) and at the end.
"""

from __future__ import annotations

import gc
import logging
import random
import re
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure

from fuzz._util import rss_mib
from fuzz._watchdog import Hang, Watchdog

__all__ = [
    "MAX_RSS_GROWTH_MIB",
    "Finding",
    "Hang",
    "LoggedError",
    "Report",
    "Target",
    "run_target",
]

log = logging.getLogger(__name__)

#: Growth of the resident set over one target's run (after the warm-up)
#: that counts as a memory finding, in MiB. The resident set follows the
#: largest example so far (freed memory is not always given back), so this
#: is a sanity bound; leaks show first in the allocated blocks.
MAX_RSS_GROWTH_MIB = 256.0
#: Growth of the interpreter's allocated memory blocks over one target's run
#: (after the warm-up, garbage collected) that counts as a leak: one
#: object kept per example shows after a few minutes.
MAX_BLOCK_GROWTH = 200_000
#: The share of the budget spent before the memory baseline is taken: the
#: caches of hypothesis and of the libraries fill up first.
WARM_UP = 0.2
#: The most characters of a falsifying example printed with a finding.
MAX_EXAMPLE_TEXT = 6000
_BLOB = re.compile(r"@reproduce_failure\('[^']*', b'([^']*)'\)")
_REPO = Path(__file__).resolve().parent.parent
_OWN_DIRS = (str(_REPO / "hyper"), str(_REPO / "fuzz"))
_HARNESS = {str(_REPO / "fuzz" / "_engine.py"), str(_REPO / "fuzz" / "_watchdog.py")}


class LoggedError(Exception):
    """hyper logged an error (a bug it contained) while an example ran."""


@dataclass(frozen=True)
class Target:
    """One fuzz target.

    :ivar name: the name on the command line and in reports.
    :ivar strategy: draws one example.
    :ivar check: runs one example; returns normally when all is well.
    :ivar time_limit: seconds one example may take before it is a hang.
    :ivar batch_size: examples per hypothesis run.
    """

    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]
    time_limit: float
    batch_size: int = 200


@dataclass
class Finding:
    """One distinct bug: a shrunk example and what it raised."""

    target: str
    signature: str
    summary: str
    example: str
    traceback: str
    seed: int
    flaky: bool = False
    blob: str | None = None

    def render(self) -> str:
        """The finding as text for the report."""
        head = f"[{self.target}] {self.signature}{' (flaky)' if self.flaky else ''}"
        replay = f"  replay: python -b -m fuzz {self.target} --reproduce {self.blob}"
        lines = [head, f"  {self.summary}", f"  batch seed {self.seed}"]
        lines += [replay] if self.blob else []
        return "\n".join([*lines, self.example, self.traceback])


@dataclass
class Report:
    """What one target's run did."""

    target: str
    examples: int = 0
    batches: int = 0
    seconds: float = 0.0
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    blocks_start: int = 0
    blocks_end: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def rss_growth_mib(self) -> float:
        """Resident-set growth from the baseline to the end, in MiB."""
        return self.rss_end_mib - self.rss_start_mib

    def summary(self) -> str:
        """One line: examples, time, memory, findings."""
        rate = self.examples / self.seconds if self.seconds else 0.0
        return (
            f"{self.target}: {self.examples} examples in {self.seconds:.1f} s "
            f"({rate:.0f}/s, {self.batches} batches), RSS {self.rss_start_mib:.1f} -> "
            f"{self.rss_end_mib:.1f} MiB, blocks {self.blocks_start} -> {self.blocks_end}, "
            f"findings: {len(self.findings)}"
        )


class _ErrorLog(logging.Handler):
    """Collects ERROR records of the ``hyper`` loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _capture_hyper_errors() -> Iterator[_ErrorLog]:
    handler = _ErrorLog()
    logger = logging.getLogger("hyper")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _raise_logged(records: list[logging.LogRecord]) -> None:
    if not records:
        return
    record = records[0]
    cause = record.exc_info[1] if record.exc_info else None
    if cause is None:
        raise LoggedError(f"hyper logged: {record.getMessage()}")
    raise LoggedError(f"hyper logged: {record.getMessage()}: {cause!r}") from cause


def signature(exc: BaseException) -> str:
    """Type and source line of an exception (of its cause, for a
    :class:`LoggedError`): equal signatures are the same bug. The line is the
    innermost one in hyper or a target, else the innermost of all."""
    origin = exc.__cause__ if isinstance(exc, LoggedError) and exc.__cause__ else exc
    frames = traceback.extract_tb(origin.__traceback__)
    own = [f for f in frames if f.filename.startswith(_OWN_DIRS) and f.filename not in _HARNESS]
    place = "?"
    if own or frames:
        frame = (own or frames)[-1]
        path = Path(frame.filename)
        shown = path.relative_to(_REPO) if path.is_relative_to(_REPO) else path.name
        place = f"{shown}:{frame.lineno}"
    return f"{type(exc).__name__}({type(origin).__name__}) at {place}"


def _raised_by_us(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc`` is hyper's or the fuzz targets'."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(_OWN_DIRS)


class _Run:
    """The state of one target's run, shared by its batches."""

    def __init__(self, target: Target, deadline: float, watchdog: Watchdog) -> None:
        self.target = target
        self.deadline = deadline
        self.watchdog = watchdog
        self.examples = 0
        self.known: set[str] = set()
        self.shrinking = False  # this batch failed: it runs on past the deadline

    def call(self, example: Any) -> None:
        """Run one example under the watchdog, as hypothesis's test body."""
        if time.monotonic() >= self.deadline and not self.shrinking:
            return  # the budget is spent: let the batch run out quickly
        self.examples += 1
        with _capture_hyper_errors() as errors:
            try:
                with self.watchdog.armed(self.target.time_limit):
                    self.target.check(example)
                _raise_logged(errors.records)
            except Exception as exc:
                if signature(exc) in self.known:
                    return  # a bug already reported: look for others
                self.shrinking = True
                raise

    def batch(self, seed: int, blob: tuple[str, bytes] | None = None) -> None:
        """One hypothesis run of at most ``batch_size`` examples."""
        self.shrinking = False
        phases = (Phase.explicit, Phase.generate, Phase.target, Phase.shrink)
        config = settings(
            max_examples=self.target.batch_size,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=phases,
            print_blob=True,
            report_multiple_bugs=False,
            verbosity=Verbosity.normal,
        )

        def example_of(example: Any) -> None:
            self.call(example)

        test = config(given(self.target.strategy)(example_of))
        test = hypothesis.seed(seed)(test)
        if blob is not None:
            test = hypothesis.reproduce_failure(*blob)(test)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Generating overly large repr")
            test()


def _finding(target: str, exc: BaseException, seed: int) -> Finding:
    flaky = isinstance(exc, FlakyFailure)
    inner = exc.exceptions[0] if isinstance(exc, FlakyFailure) and exc.exceptions else exc
    notes = "\n".join(
        dict.fromkeys(getattr(exc, "__notes__", []) + getattr(inner, "__notes__", []))
    )
    if len(notes) > MAX_EXAMPLE_TEXT:
        notes = notes[:MAX_EXAMPLE_TEXT] + "\n... (truncated)"
    saved = vars(inner).pop("__notes__", None)  # the notes are the example, shown already
    lines = traceback.format_exception(type(inner), inner, inner.__traceback__)
    if saved is not None:
        vars(inner)["__notes__"] = saved
    blob = _BLOB.search(notes)
    return Finding(
        target=target,
        signature=signature(inner),
        summary=f"{type(inner).__name__}: {inner}"[:500],
        example=notes,
        traceback="".join(lines[-12:]),
        seed=seed,
        flaky=flaky,
        blob=blob.group(1) if blob else None,
    )


def run_target(
    target: Target,
    seconds: float,
    *,
    seed: int | None = None,
    max_rss_growth_mib: float = MAX_RSS_GROWTH_MIB,
    max_block_growth: int = MAX_BLOCK_GROWTH,
    on_finding: Callable[[Finding], None] | None = None,
) -> Report:
    """Fuzz one target for about ``seconds`` (a batch in progress finishes,
    and a finding is shrunk, past the budget).

    :param seed: the seed of the batch seeds (random by default).
    :param max_rss_growth_mib: resident growth that is reported as a finding
        (measured from the baseline, taken after :data:`WARM_UP` of the budget).
    :param max_block_growth: allocated-block growth that is reported as a finding.
    :param on_finding: called as each finding is made.
    :raises ValueError: ``seconds`` is not positive.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, not {seconds!r}")
    master = random.Random(seed)
    report = Report(target.name)
    start = time.monotonic()
    baseline_taken = False
    with Watchdog() as watchdog:
        run = _Run(target, start + seconds, watchdog)
        while report.batches == 0 or time.monotonic() < run.deadline:
            found = _one_batch(run, master.getrandbits(64))
            if found is not None:
                run.known.add(found.signature)
                report.findings.append(found)
                if on_finding is not None:
                    on_finding(found)
            report.batches += 1
            if not baseline_taken and time.monotonic() - start >= seconds * WARM_UP:
                report.rss_start_mib, report.blocks_start = _memory()
                baseline_taken = True
    report.rss_end_mib, report.blocks_end = _memory()
    report.examples = run.examples
    report.seconds = time.monotonic() - start
    report.findings.extend(_memory_findings(report, max_rss_growth_mib, max_block_growth))
    return report


def _one_batch(run: _Run, seed: int) -> Finding | None:
    """Run a batch; the finding it made, if any."""
    try:
        run.batch(seed)
    except Exception as exc:
        if isinstance(exc, BytesWarning) and not _raised_by_us(exc):
            # hypothesis's own example cache compares bytes with ints, which
            # python -bb turns into an error: an engine glitch, not a finding.
            log.debug("batch with seed %d: engine glitch %r", seed, exc)
            return None
        return _finding(run.target.name, exc, seed)
    return None


def _memory() -> tuple[float, int]:
    """Resident MiB and allocated blocks, after a full garbage collection."""
    gc.collect()
    return rss_mib(), sys.getallocatedblocks()


def _memory_findings(report: Report, rss_limit: float, block_limit: int) -> list[Finding]:
    found = []
    blocks = report.blocks_end - report.blocks_start
    if report.rss_growth_mib > rss_limit:
        found.append(f"RSS grew by {report.rss_growth_mib:.1f} MiB (limit {rss_limit:.0f} MiB)")
    if blocks > block_limit:
        found.append(f"allocated blocks grew by {blocks} (limit {block_limit})")
    return [Finding(report.target, "memory growth", text, "", "", 0) for text in found]


def reproduce(target: Target, blob: tuple[str, bytes]) -> None:
    """Run one recorded failing example again, raising what it raises.

    :param blob: the hypothesis version and blob of a ``@reproduce_failure`` note.
    """
    with Watchdog() as watchdog:
        _Run(target, float("inf"), watchdog).batch(0, blob)
