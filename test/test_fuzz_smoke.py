"""The fuzz targets and the soak test on a short budget (CI), and proof that the
harness catches what it is for: escaped exceptions, hangs, logged errors,
leaks and a bug planted in the HTTP/2 receive path."""

from __future__ import annotations

import logging
import time
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from fuzz import TARGETS
from fuzz._engine import Finding, Target, reproduce, run_target
from fuzz.soak import render, run_soak

#: Seconds per real target: enough for a few dozen to a few hundred examples.
BUDGET = {"http11": 0.6, "decoders": 0.6, "http20": 1.2, "http11-wire": 0.8}
SEED = 20240611


def _explain(findings: list[Finding]) -> str:
    return "\n\n".join(found.render() for found in findings)


@pytest.mark.parametrize("name", list(TARGETS))
def test_target_runs_clean_on_a_short_budget(name: str) -> None:
    report = run_target(TARGETS[name], BUDGET[name], seed=SEED)
    assert report.examples > 0
    assert report.findings == [], _explain(report.findings)
    assert name in report.summary()


def _planted(check: Any, *, limit: float = 5.0) -> Target:
    return Target("planted", st.integers(0, 1000), check, time_limit=limit, batch_size=50)


def test_an_escaped_exception_is_found_shrunk_and_replayable() -> None:
    def check(value: int) -> None:
        if value > 500:
            raise KeyError(value)

    target = _planted(check)
    report = run_target(target, 0.3, seed=SEED)
    assert len(report.findings) == 1, _explain(report.findings)
    found = report.findings[0]
    assert found.signature.startswith("KeyError(KeyError) at test/test_fuzz_smoke.py:")
    assert "value=501" in found.example or "=501" in found.example
    assert found.blob is not None
    with pytest.raises(KeyError, match="501"):
        reproduce(target, (hypothesis.__version__, found.blob.encode()))


def test_a_hang_is_interrupted_and_reported() -> None:
    def check(value: int) -> None:
        deadline = time.monotonic() + 30
        while value >= 999 and time.monotonic() < deadline:
            time.sleep(0.005)

    target = Target("hangs", st.just(999), check, time_limit=0.1, batch_size=2)
    started = time.monotonic()
    report = run_target(target, 0.2, seed=SEED)
    assert time.monotonic() - started < 10
    assert [found.signature.split("(")[0] for found in report.findings] == ["Hang"]


def test_an_error_logged_by_hyper_is_a_finding() -> None:
    def check(value: int) -> None:
        if value == 7:
            logging.getLogger("hyper.somewhere").error("contained a bug")

    report = run_target(_planted(check), 0.5, seed=SEED)
    assert [found.summary for found in report.findings] == [
        "LoggedError: hyper logged: contained a bug"
    ]


def test_a_leak_is_a_memory_finding() -> None:
    kept: list[object] = []

    def check(value: int) -> None:
        kept.extend(object() for _ in range(200))

    report = run_target(_planted(check), 0.6, seed=SEED, max_block_growth=5000)
    assert [found.signature for found in report.findings] == ["memory growth"]
    assert "allocated blocks grew" in report.findings[0].summary


def test_the_http20_target_finds_a_bug_planted_in_the_receive_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hyper.http20._session import Session

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("planted")

    monkeypatch.setattr(Session, "on_data", broken)
    report = run_target(TARGETS["http20"], 0.8, seed=SEED)
    assert report.findings, "the planted bug went unnoticed"
    assert any("ValueError('planted')" in found.summary for found in report.findings), _explain(
        report.findings
    )


def test_a_small_soak_passes() -> None:
    result = run_soak(300, 4, seed=SEED)
    assert result.passed, render(result)
    assert result.tally.done == 300
    assert sum(result.tally.outcomes.values()) == 300
    assert result.tally.outcomes[("none", "ok")] > 100
    assert "result: PASS" in render(result)
