"""Values crafted against the terminal (issue 5, item 5): markup, escape sequences, C1
controls, bidi overrides, zero-width characters and very long lines, stored in ids, names,
tags and unknown fields, are shown literally everywhere and never acted on: the table,
the detail panel, the raw file view, the edit form, the delete and transfer
confirmations, notifications, the command line, and the bytes a real terminal receives."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from tests.app_helpers import (
    json_path,
    panes,
    visible_rows,
    wait_detail,
    wait_for,
    wait_loaded,
)
from tests.cli_helpers import cli_many, ok
from tests.records import raw_record
from tests.reliability.budget import Figures
from tests.test_e2e_pty import Terminal
from tui.app import BrowserApp
from tui.models import ExampleItem
from tui.screens.confirm import ConfirmScreen
from tui.screens.raw_screen import RawFileScreen
from tui.screens.record_form import RecordForm
from tui.stores import SqliteStore
from tui.text import printable
from tui.widgets.store_pane import StorePane

COMMAND = ".venv/bin/pytest tests/reliability/test_rel_hostile_display.py"

# name -> value. The ones with an escape character come first, so that they are among the
# ids a transfer plan lists.
VALUES: dict[str, str] = {
    "osc52-clipboard": "\x1b]52;c;SEVDTE8=\x07",
    "osc8-hyperlink": "\x1b]8;;https://x.example/\x1b\\here\x1b]8;;\x1b\\",
    "csi-clear-screen": "\x1b[2J\x1b[6n",
    "c1-csi": "\x9b6n\x9b2J",
    "click-action": "[@click=app.quit]x[/]",
    "link-markup": "[link=https://x.example]y[/link]",
    "unbalanced-close": "[/]",
    "unclosed-bold": "[bold",
    "bidi-override": "ab\u202edc",
    "bidi-isolate": "\u2066iso\u2069",
    "zero-width": "a\u200bb\u2060c\ufeffd",
    "nul-and-bell": "n\x00b\x07",
}
LONG = "L" * 100_000
SAMPLE = [VALUES["osc52-clipboard"], VALUES["click-action"], VALUES["link-markup"], "long"]
# Raw characters that must never reach the screen (each has a visible placeholder).
FORBIDDEN = ["\x1b", "\x9b", "\x07", "\x00", "\u202e", "\u2066", "\u2069", "\u200b", "\ufeff"]


def records(prefix: str) -> list[dict[str, Any]]:
    out = []
    for n, value in enumerate(VALUES.values()):
        out.append(
            raw_record(
                f"{prefix}{n:02d}{value}",
                value,
                description=f"d {value}",
                tags=[value, "plain"],
                **{f"u {value}": value},
            )
        )
    out.append(raw_record(f"{prefix}-long-name", LONG))  # invalid (name > 200): shown all the same
    out.append(raw_record(f"{prefix}-long-text", "long", description=LONG, tags=[LONG]))
    return out


async def seed(data_dir: Path) -> None:
    path = json_path(data_dir)
    path.parent.mkdir(parents=True)
    data = {raw["id"]: raw for raw in records("j")}
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    store = SqliteStore.in_data_dir(data_dir, "example_items", ExampleItem)
    await store.open()
    try:
        await store.put_raw_many(records("s"))
    finally:
        await store.close()


def screen_text(app: App[Any]) -> str:
    """Every character the screen would send, line by line (styles left out)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def check_clean(text: str, where: str) -> None:
    for char in FORBIDDEN:
        assert char not in text, f"{char!r} reached the screen in {where}"


async def select(pilot: Pilot[Any], pane: StorePane, name: str) -> None:
    for y in range(pane.table.total):
        pane.table.move_to(y)
        await wait_for(pilot, lambda: pane.current is not None and pane.current.raw is not None)
        if pane.current is not None and pane.current.raw["name"] == name:
            return
    raise AssertionError(f"no record named {name!r}")


class Watch:
    """Records any attempt to act on a value: open a link, copy, quit."""

    def __init__(self, app: BrowserApp, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        monkeypatch.setattr(app, "open_url", lambda *a, **k: self.calls.append(f"open {a}"))
        monkeypatch.setattr(
            app, "copy_to_clipboard", lambda *a, **k: self.calls.append(f"copy {a}")
        )


async def test_hostile_values_everywhere_in_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    # tables and details for every value; clicks, form, confirm and raw view for a sample
    shown = len(VALUES) * 2 + len(SAMPLE) * 5
    figures.cases("hostile values x places shown literally", shown, COMMAND)
    await seed(tmp_path)
    app = BrowserApp(tmp_path)
    watch = Watch(app, monkeypatch)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_loaded(pilot)
        left, right = panes(app)
        assert left.table.total == right.table.total == len(VALUES) + 2

        # The tables: literal markup and placeholders, no raw control character.
        main = screen_text(app)
        check_clean(main, "the tables")
        rows = "\n".join(visible_rows(left) + visible_rows(right))
        for value in VALUES.values():  # (cells are narrow: their first characters)
            assert printable(value)[:10] in rows, printable(value)
        assert "LLLL" in rows

        # Each record of the JSON pane in the detail panel; for a sample of them (the
        # other places show the same text through the same code), click it, edit it,
        # delete it (the confirmation) and view it in the raw file.
        left.table.focus()
        await pilot.pause()
        detail = left.query_one("#detail-body", Static)
        sampled = 0
        for y in range(left.table.total):
            left.table.move_to(y)
            await wait_for(pilot, lambda: left.current is not None and left.current.raw is not None)
            body = await wait_detail(pilot, left)  # the panel renders after a refresh
            entry = left.current
            assert entry is not None
            name = entry.raw["name"]
            check_clean(body, f"the detail panel of {entry.id!r}")
            if len(name) < 100:  # the record as JSON, its escapes and placeholders shown
                assert printable(orjson.dumps(name).decode()[1:-1]) in body
            if name not in SAMPLE:
                continue
            sampled += 1
            for x in (16, 45, 60):  # name, description and tags cells
                await pilot.click(left.table, offset=(x, y + 1 - left.table.scroll_y))
            await pilot.click(detail, offset=(5, 3))
            await pilot.pause()
            assert app.is_running and not watch.calls
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
            check_clean(screen_text(app), f"the edit form of {entry.id!r}")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            text = screen_text(app)
            check_clean(text, f"the delete confirmation of {entry.id!r}")
            assert "Delete record" in text and printable(name)[:20] in text
            await pilot.press("n")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
            await pilot.press("v")
            await wait_for(pilot, lambda: isinstance(app.screen, RawFileScreen))
            raw = app.screen
            assert isinstance(raw, RawFileScreen)
            await wait_for(pilot, lambda r=raw: r.indexing_done and r.record_line is not None)
            await pilot.pause()
            check_clean(screen_text(app), f"the raw view at {entry.id!r}")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, RawFileScreen))
            assert app.is_running and not watch.calls
        assert sampled == len(SAMPLE)

        # Transfer confirmations list hostile ids.
        for key in ("x", "i"):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            text = screen_text(app)
            check_clean(text, f"the {key} confirmation")
            assert "␛" in text  # an id with an escape character, shown as a placeholder
            await pilot.press("n")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))

        # Notifications: save an edit, delete a record, both with hostile names.
        await select(pilot, left, VALUES["click-action"])
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await pilot.press("tab", "end", *"x", "ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await wait_for(pilot, lambda: any("Saved" in n.message for n in app._notifications))
        await select(pilot, left, VALUES["osc52-clipboard"])
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Deleted" in n.message for n in app._notifications))
        await pilot.pause(0.2)
        messages = "\n".join(n.message for n in app._notifications)
        check_clean(messages, "notifications")
        check_clean(screen_text(app), "the screen with notifications")
        assert "␛]52;c;SEVDTE8=␇" in messages and "[@click=app.quit]x[/]" in messages
        assert app.is_running and not watch.calls
        await pilot.press("q")
    assert app.return_code == 0


BAD_BYTES = [b"\x1b", b"\xc2\x9b", b"\x07", b"\x00", "\u202e".encode(), "\u2066".encode()]
BAD_BYTES += ["\u200b".encode(), "\ufeff".encode()]


def test_hostile_values_on_the_command_line(tmp_path: Path, figures: Figures) -> None:
    data_dir = tmp_path / "data"
    asyncio.run(seed(data_dir))
    some_id = records("s")[0]["id"]
    calls = [
        ["list"],
        ["list", "--backend", "json"],
        ["list", "--format", "json"],
        ["list", "--backend", "json", "--format", "json"],
        ["get", some_id],
        ["get", records("j")[5]["id"], "--backend", "json"],
        ["get", "missing\x1b]52;c;SEVDTE8=\x07\u202e"],
        ["export", "--dry-run"],
        ["import", "--dry-run"],
        ["edit", some_id, "--description", "\x1b[2J[@click=app.quit]"],
        ["delete", records("j")[1]["id"], "--backend", "json"],
    ]
    figures.cases(
        "hostile values x CLI commands shown literally", len(calls) * len(VALUES), COMMAND
    )
    runs = cli_many(data_dir, calls)
    for run in runs:
        assert "Traceback" not in run.err, str(run)
        for bad in BAD_BYTES:
            assert bad not in run.out_bytes and bad not in run.err_bytes, (bad, str(run))
    for run in runs[:6] + runs[7:]:
        ok(run)
    assert runs[6].code != 0 and "␛]52;c;SEVDTE8=␇" in runs[6].err
    table = runs[0].out
    assert "[@click=app.quit]x[/]" in table and "␛]52;c;SEVDTE8=␇" in table
    listed = runs[2].json()
    names = {r["name"] for r in listed}  # the exact data, JSON-escaped
    assert set(VALUES.values()) <= names


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_no_escape_from_a_value_reaches_a_real_terminal(tmp_path: Path, figures: Figures) -> None:
    """The bytes the app writes to a real pty hold none of the values' own sequences."""
    figures.cases("hostile values through a real pty, no escape", len(VALUES), COMMAND)
    data_dir = tmp_path / "data"
    asyncio.run(seed(data_dir))
    term = Terminal([sys.executable, "-m", "tui", "--data-dir", str(data_dir)], cwd=tmp_path)
    try:
        term.wait_for("JSON · 14 records", timeout=60)  # a cold start, maybe a slow machine
        term.wait_for("SQLite · 14 records")
        term.wait_for("␛]52;c;SEVDTE8=␇")  # shown, as a placeholder
        term.send("v")  # the raw file view, at the selected record
        term.wait_for("Raw file")
        term.read(0.5)
        term.send("\x1b")
        term.read(1.0)  # (a lone ESC is a key only once no sequence follows it)
        for _ in range(5):  # q quits from the browser (from the raw view: back, then q)
            term.send("q")
            term.read(1.0)
            if term.process.poll() is not None:
                break
        code = term.close()
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait()
    assert code == 0
    # Textual's own OSC 22 (the mouse pointer's shape) ends with a BEL; none other may.
    raw = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", term.raw)
    for sequence in (
        b"\x1b]52;",  # clipboard
        b"\x1b]8;;https://x.example",  # hyperlink
        b"x.example",  # any link to it at all
        b"\x1b[6n",  # a cursor position query: the terminal would answer into stdin
        b"\xc2\x9b",  # C1 CSI
        b"\x07",  # BEL (also ends OSC)
        "\u202e".encode(),
        "\u2066".encode(),
        "\u200b".encode(),
    ):
        assert sequence not in raw, sequence
