"""Fixtures shared by the test modules of ``test/``."""

from __future__ import annotations

import os

import pytest

#: Modules that use :func:`stress_round` run each test this many times
#: (an environment variable, for ``make stress``).
ROUNDS = int(os.environ.get("HYPER_STRESS_ROUNDS", "1"))


@pytest.fixture(params=range(ROUNDS), ids=lambda n: f"round{n}")
def stress_round(request: pytest.FixtureRequest) -> int:
    """Repeat a test ``HYPER_STRESS_ROUNDS`` times (use it with
    ``pytestmark = pytest.mark.usefixtures("stress_round")``)."""
    return int(request.param)
