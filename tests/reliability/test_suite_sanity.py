"""The reliability suite's own plumbing."""

from tests.reliability.budget import Figures, amount


def test_amount_is_the_quick_figure_unless_long() -> None:
    assert amount(3, 1000) in (3, 1000)


def test_figures_add_up() -> None:
    figures = Figures()
    figures.add("kills", 2, 2)
    figures.add("kills", 3, 2)
    assert (figures.rows["kills"].tried, figures.rows["kills"].nothing_lost) == (5, 4)
