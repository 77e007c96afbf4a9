"""Fitting a modal dialog to the terminal: its one scrolling part gets what is left."""

from __future__ import annotations

from typing import Any

from textual.css.scalar import Scalar
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer


def fit_scroller(screen: Screen[Any], dialog: Widget, scroller: Widget) -> None:
    """Cap ``scroller`` (a child of the auto-height ``dialog``) so the whole dialog fits
    above the screen's footer, however short the terminal.

    TCSS cannot say "what is left of the screen" for a child of an auto-height dialog, so
    the cap is computed: screen height minus the footer, the dialog's border and padding,
    and every other part of the dialog.
    """
    fixed = dialog.styles.gutter.height + dialog.styles.margin.height
    for child in dialog.children:
        if child is scroller or not child.display:
            continue
        fixed += child.outer_size.height + child.styles.margin.height
    fixed += scroller.styles.margin.height  # (its border and padding are in its height)
    footers = screen.query(Footer)
    footer = footers.first().outer_size.height if footers else 0
    room = max(3, screen.size.height - footer - fixed)
    if scroller.styles.max_height != Scalar.from_number(room):
        scroller.styles.max_height = room
