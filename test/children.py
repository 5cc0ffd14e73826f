"""Running child Pythons from the tests: an environment in which they import
this checkout's hyper, and a runner for scripts that print one JSON report
each, a few at a time (the machines have two cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hyper


def child_env() -> dict[str, str]:
    """The environment for a child Python that imports this hyper."""
    env = dict(os.environ)
    root = str(Path(hyper.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def run_json_children(
    script: Path, argvs: Sequence[Sequence[str]], jobs: int, timeout: float
) -> list[dict[str, Any]]:
    """Run ``script`` once per argument list, ``jobs`` at a time; each run's
    JSON report, in order. Fails the test if a run exits non-zero."""
    env = child_env()
    reports: list[dict[str, Any]] = []
    for start in range(0, len(argvs), jobs):
        batch = argvs[start : start + jobs]
        children = [
            subprocess.Popen([sys.executable, str(script), *argv], stdout=subprocess.PIPE, env=env)
            for argv in batch
        ]
        try:
            for argv, child in zip(batch, children, strict=True):
                out, _ = child.communicate(timeout=timeout)
                assert child.returncode == 0, f"{script.name} {list(argv)} failed"
                reports.append(json.loads(out))
        finally:
            for child in children:
                child.kill()
                child.communicate()
    return reports
