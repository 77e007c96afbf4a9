"""Shared by the reliability suite: how long a run is, and what it counted."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

LONG = os.environ.get("TUI_RELIABILITY") == "long"


def amount(quick: int, long: int) -> int:
    """How many times to repeat something: ``long`` in the long run, else ``quick``."""
    return long if LONG else quick


@dataclass
class Figure:
    tried: int = 0
    nothing_lost: int = 0
    command: str = ""


@dataclass
class Figures:
    """What the suite did, by name: how many were tried and how many lost nothing.

    Two ways to count. ``add`` takes both numbers from a test that counted its cases
    one by one. ``cases`` is for a test whose assertions are the check: it counts the
    cases as tried at once, and as losing nothing only if the test then passes (the
    conftest credits them from the test's report), so a failing run shows in the table.
    """

    rows: dict[str, Figure] = field(default_factory=dict)
    pending: list[tuple[str, int]] = field(default_factory=list)

    def add(self, name: str, tried: int, nothing_lost: int, command: str = "") -> None:
        row = self.rows.setdefault(name, Figure(command=command))
        row.tried += tried
        row.nothing_lost += nothing_lost
        row.command = row.command or command

    def cases(self, name: str, count: int = 1, command: str = "") -> None:
        """Count ``count`` cases as tried; they lose nothing if the running test passes."""
        self.add(name, count, 0, command)
        self.pending.append((name, count))

    def settle(self, passed: bool) -> None:
        """The running test ended: credit its pending cases if it passed."""
        if passed:
            for name, count in self.pending:
                self.add(name, 0, count)
        self.pending.clear()


FIGURES = Figures()
