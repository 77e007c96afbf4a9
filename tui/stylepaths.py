"""Where the app's TCSS files are: ``styles/`` beside the package in a checkout, or
``tui/styles/`` when installed."""

from __future__ import annotations

from pathlib import Path

STYLES_DIR = next(
    (
        p
        for p in (Path(__file__).parent / "styles", Path(__file__).parent.parent / "styles")
        if p.is_dir()
    ),
    Path(__file__).parent / "styles",
)


def style(name: str) -> Path:
    """The path of ``styles/<name>``; each screen loads only its own file."""
    return STYLES_DIR / name
