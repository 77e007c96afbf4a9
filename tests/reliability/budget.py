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
    """What the suite did, by name: how many were tried and how many lost nothing."""

    rows: dict[str, Figure] = field(default_factory=dict)

    def add(self, name: str, tried: int, nothing_lost: int, command: str = "") -> None:
        row = self.rows.setdefault(name, Figure(command=command))
        row.tried += tried
        row.nothing_lost += nothing_lost
        row.command = row.command or command


FIGURES = Figures()
