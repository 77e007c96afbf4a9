"""The reliability suite's own plumbing."""

import pytest

from tests.reliability import budget
from tests.reliability.budget import Figures, amount


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
