"""The reliability suite's own plumbing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import budget
from tests.reliability.budget import Figures, amount

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("long", "want"), [(False, 3), (True, 1000)])
def test_amount_is_the_quick_figure_unless_long(
    monkeypatch: pytest.MonkeyPatch, long: bool, want: int
) -> None:
    monkeypatch.setattr(budget, "LONG", long)
    assert amount(3, 1000) == want


def test_figures_add_up() -> None:
    figures = Figures()
    figures.add("kills", 2, 2)
    figures.add("kills", 3, 2)
    assert (figures.rows["kills"].tried, figures.rows["kills"].nothing_lost) == (5, 4)


def test_cases_lose_nothing_only_when_their_test_passes() -> None:
    figures = Figures()
    figures.cases("saves", 3)
    figures.settle(passed=True)
    figures.cases("saves", 2)
    figures.settle(passed=False)
    assert (figures.rows["saves"].tried, figures.rows["saves"].nothing_lost) == (5, 3)
    assert figures.pending == []


def test_the_table_counts_a_failing_test_as_tried_not_kept(tmp_path: Path) -> None:
    """Through pytest itself: the conftest's report hook credits passing tests only."""
    (tmp_path / "conftest.py").write_text(
        "from tests.reliability.conftest import *  # noqa: F403\n"
    )
    (tmp_path / "test_two.py").write_text(
        "def test_kept(figures):\n"
        "    figures.cases('writes', 2)\n"
        "\n"
        "def test_lost(figures):\n"
        "    figures.cases('writes', 3)\n"
        "    assert False, 'a write was lost'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert re.search(r"^writes\s+5\s+2\s*$", run.stdout, re.MULTILINE), run.stdout
