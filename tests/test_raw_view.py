"""The raw view: LineIndex and the tokenizer (no Textual), then the screen under Pilot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.pilot import Pilot
from textual.widgets import Static

from tui.rawfile import LineIndex, record_key_needles, tokenize_json_line
from tui.screens.raw_screen import RawFileScreen
from tui.widgets.raw_view import RawFileView

STYLES = Path(__file__).resolve().parent.parent / "styles" / "raw_view.tcss"
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f]")


def write(tmp_path: Path, data: bytes, name: str = "f.json") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def indexed(path: Path, chunk: int | None = None) -> LineIndex:
    index = LineIndex(path)
    if chunk is None:
        index.index_all()
    else:
        while not index.index_chunk(chunk):
            pass
    return index


def all_lines(index: LineIndex) -> list[str]:
    return [index.line(n) for n in range(index.line_count)]


# -- LineIndex --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
@pytest.mark.parametrize(
    ("data", "lines", "starts"),
    [
        (b"a\nbc\n\ndef\n", ["a", "bc", "", "def"], [0, 2, 5, 6]),
        (b"a\nbc", ["a", "bc"], [0, 2]),  # no trailing newline
        (b"abc", ["abc"], [0]),
        (b"\n", [""], [0]),
        (b"\n\n", ["", ""], [0, 1]),
        (b"a\r\nb\r\n", ["a", "b"], [0, 3]),  # CRLF
        (b"a\r\nb", ["a", "b"], [0, 3]),
        (b"a\rb\n", ["a\rb"], [0]),  # a lone CR is part of the line
    ],
)
def test_line_offsets(
    tmp_path: Path, data: bytes, lines: list[str], starts: list[int], chunk: int | None
) -> None:
    with indexed(write(tmp_path, data), chunk) as index:
        assert index.done
        assert index.line_count == len(lines)
        assert all_lines(index) == lines
        assert [index.line_start(n) for n in range(index.line_count)] == starts


def test_empty_file_has_no_lines(tmp_path: Path) -> None:
    with LineIndex(write(tmp_path, b"")) as index:
        assert index.size == 0
        assert index.index_chunk() is True
        assert index.done and index.progress == 1.0
        assert index.line_count == 0
        with pytest.raises(IndexError):
            index.line(0)
        assert index.find_record_line("x") is None


def test_incremental_index_counts_only_complete_lines(tmp_path: Path) -> None:
    index = LineIndex(write(tmp_path, b"first\nsecond\nthird"))
    assert index.line_count == 0
    assert index.index_chunk(8) is False  # "first\nse"
    assert index.line_count == 1
    assert index.line(0) == "first"
    with pytest.raises(IndexError):
        index.line(1)  # its end is not known yet
    assert 0 < index.progress < 1
    assert index.index_chunk(100) is True
    assert all_lines(index) == ["first", "second", "third"]
    index.close()
    index.close()  # idempotent
    assert index.line(0) == ""  # closed: empty, never a crash
    assert index.index_chunk() is True


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    with indexed(
        write(tmp_path, b'  "k": "\xff\xfe ok \xc3"\n\xe6\x9d\xb1\xe4\xba\xac\n')
    ) as index:
        assert index.line(0) == '  "k": "\ufffd\ufffd ok \ufffd"'
        assert index.line(1) == "東京"


def test_control_bytes_are_kept_as_characters(tmp_path: Path) -> None:
    # ESC, the UTF-8 encoded C1 CSI (U+009B), a raw 0x9b byte (invalid UTF-8), NUL, BEL
    data = b'  "v": "\x1b[31mred\xc2\x9b2J\x9b\x00\x07"\n'
    with indexed(write(tmp_path, data)) as index:
        assert index.line(0) == '  "v": "\x1b[31mred\x9b2J\ufffd\x00\x07"'


def test_long_line_is_cut_at_a_character_boundary(tmp_path: Path) -> None:
    text = "é" * 10  # 2 bytes each
    with indexed(write(tmp_path, (text + "\n").encode())) as index:
        line, omitted = index.read_line(0, max_bytes=5)
        assert line == "éé"
        assert omitted == 16
        assert index.read_line(0) == (text, 0)


def test_missing_file_and_folder_raise_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LineIndex(tmp_path / "missing.json")
    with pytest.raises(IsADirectoryError):
        LineIndex(tmp_path)


def test_reading_while_another_thread_indexes(tmp_path: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(200_000))
    index = LineIndex(write(tmp_path, data))
    errors: list[BaseException] = []

    def build() -> None:
        try:
            while not index.index_chunk(4096):
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    while thread.is_alive():
        count = index.line_count
        if count:
            assert index.line(count - 1) == f"line {count - 1}"
    thread.join()
    assert not errors
    assert index.line_count == 200_000
    index.close()


def test_rawfile_imports_no_textual() -> None:
    code = (
        "import sys, tui.rawfile\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


# -- find_record_line -------------------------------------------------------------------


def store_bytes(records: dict[str, Any], ensure_ascii: bool | None = None) -> bytes:
    """The store layout: orjson (ensure_ascii None) or the guide template's json.dumps."""
    if ensure_ascii is None:
        return orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n"
    return (json.dumps(records, indent=2, ensure_ascii=ensure_ascii) + "\n").encode()


def expected_line(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle) + 1].count(b"\n")


IDS = ["aaaaaaaaaaaa", "café-東京", 'quote"back\\slash', "ctl\x01\x1b", "emoji🚀", "name"]


@pytest.mark.parametrize("ensure_ascii", [None, False, True])
@pytest.mark.parametrize("record_id", IDS)
def test_find_record_line(tmp_path: Path, record_id: str, ensure_ascii: bool | None) -> None:
    records: dict[str, Any] = {
        "000000000001": {"name": "name", "tags": [record_id], "nested": {record_id: 1}},
        record_id: {"id": record_id, "name": "target"},
        "000000000002": {"name": "after"},
    }
    data = store_bytes(records, ensure_ascii)
    key = json.dumps(record_id, ensure_ascii=bool(ensure_ascii)).encode()
    line = expected_line(data, b"\n  " + key + b":")
    path = write(tmp_path, data)
    with LineIndex(path) as index:
        assert index.find_record_line(record_id) == line  # before indexing
        index.index_all()
        assert index.find_record_line(record_id) == line
        assert index.line(line).startswith('  "')
        assert index.line(line + 1) == '    "id": ' + key.decode() + ","


def test_find_record_line_not_found(tmp_path: Path) -> None:
    data = store_bytes({"a": {"name": "missing", "missing": 1}})
    with indexed(write(tmp_path, data)) as index:
        assert index.find_record_line("missing") is None
        assert index.find_record_line("a") == 1
        assert index.find_record_line("") is None


def test_find_record_in_compact_file(tmp_path: Path) -> None:
    with indexed(write(tmp_path, b'{"x": {"name": "y"}}')) as index:
        assert index.find_record_line("x") == 0
        assert index.find_record_line("name") is None


def test_needles_cover_both_escapings() -> None:
    assert record_key_needles("é") == [b'\n  "\xc3\xa9":', b'\n  "\\u00e9":']
    assert record_key_needles("plain") == [b'\n  "plain":']


# -- tokenize ---------------------------------------------------------------------------


def test_tokenize_kinds() -> None:
    line = '    "key": "va\\"l", "n": -12.5e3, "t": [true, false, null], "x": nully'
    tokens = tokenize_json_line(line)
    assert "".join(text for _, text in tokens) == line
    kinds = {text: kind for kind, text in tokens}
    assert kinds['"key"'] == "key"
    assert kinds['"va\\"l"'] == "string"
    assert kinds["-12.5e3"] == "number"
    assert kinds["true"] == kinds["false"] == kinds["null"] == "literal"
    assert kinds["nully"] == "other"
    assert kinds[":"] == kinds["["] == kinds[","] == "punct"
    assert tokens[0] == ("space", "    ")


def test_tokenize_garbage() -> None:
    for line in ['"unterminated', '"ends in backslash\\', "\x1b[31m{", "", "\ufffd\x9b", "::"]:
        assert "".join(text for _, text in tokenize_json_line(line)) == line
    assert tokenize_json_line('"open') == [("string", '"open')]


@given(st.text())
def test_tokenize_never_loses_a_character(line: str) -> None:
    tokens = tokenize_json_line(line)
    assert "".join(text for _, text in tokens) == line
    assert all(text for _, text in tokens)


# -- the screen under Pilot -------------------------------------------------------------


class RawApp(App[None]):
    """A tiny host: ``v`` opens the raw screen (as in the product); ``k`` counts presses."""

    CSS_PATH = STYLES
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "view_raw", "Raw", id="test.raw"),
        Binding("k", "count", "Count", id="test.count"),
    ]

    def __init__(self, path: Path, record_id: str | None) -> None:
        super().__init__()
        self.path = path
        self.record_id = record_id
        self.presses = 0
        self.progress_at_press: float | None = None

    def action_view_raw(self) -> None:
        self.push_screen(RawFileScreen(self.path, self.record_id))

    def action_count(self) -> None:
        self.presses += 1
        screen = self.screen
        if isinstance(screen, RawFileScreen) and screen.index is not None:
            self.progress_at_press = screen.index.progress


async def wait_for(
    pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.005)


async def open_raw(pilot: Pilot[None]) -> None:
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RawFileScreen))


def raw_screen(app: App[None]) -> RawFileScreen:
    screen = app.screen
    assert isinstance(screen, RawFileScreen)
    return screen


def screen_text(app: App[None]) -> str:
    view = app.screen.query_one(RawFileView)
    return "\n".join(view.visible_text())


def make_big_store(path: Path, count: int) -> list[str]:
    ids = [f"{i * 7919:012x}" for i in range(count)]
    records = {
        rid: {
            "id": rid,
            "schema_version": 1,
            "created_at": "2026-11-29T17:55:20.845500Z",
            "updated_at": "2026-11-29T17:55:20.845500Z",
            "name": f"Item {i} café 東京",
            "description": "a moderately long description to pad the record " * 2,
            "tags": ["alpha", "beta", f"t{i % 97}"],
        }
        for i, rid in enumerate(ids)
    }
    path.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")
    return ids


async def test_opens_30mb_file_at_the_record(tmp_path: Path) -> None:
    path = tmp_path / "example_items.json"
    ids = make_big_store(path, 80_000)
    size = path.stat().st_size
    assert size > 28_000_000
    target = ids[76_000]
    data = path.read_bytes()
    line = expected_line(data, f'\n  "{target}":'.encode())
    total_lines = data.count(b"\n")
    del data

    app = RawApp(path, target)
    async with app.run_test(size=(100, 30)) as pilot:
        # Keys are posted directly: pilot.press waits for the process to be idle, which
        # it is not until the worker has indexed the whole file.
        app.post_message(events.Key("v", "v"))
        await wait_for(pilot, lambda: isinstance(app.screen, RawFileScreen))
        screen = raw_screen(app)
        app.post_message(events.Key("k", "k"))  # the UI answers while the worker indexes
        await wait_for(pilot, lambda: app.presses == 1)
        view = screen.query_one(RawFileView)

        def record_on_screen() -> bool:  # cheap: rendering to poll would slow the worker
            top = view.scroll_offset.y
            return view.current_line == line and top <= line < top + view.size.height

        await wait_for(pilot, record_on_screen)
        elapsed = time.perf_counter() - screen.opened_at
        assert f'"{target}": {{' in screen_text(app)
        assert screen.record_line == line
        assert view.current_line == line
        rows = view.visible_text()
        row = next(y for y, text in enumerate(rows) if f'"{target}"' in text)
        assert row <= 3  # near the top
        assert rows[row].lstrip().startswith(f"{line + 1} ")  # the gutter numbers lines
        print(
            f"\n30 MB raw view: {size / 1e6:.1f} MB, record line {line + 1:,} visible "
            f"after {elapsed * 1000:.0f} ms (progress at first key press: "
            f"{app.progress_at_press})"
        )
        await wait_for(pilot, lambda: screen.indexing_done)
        info = str(screen.query_one("#raw-info", Static).render())
        assert str(path) in info and "MB" in info and f"{total_lines:,} lines" in info

        # keyboard scrolling
        top = view.scroll_offset.y
        await pilot.press("down")
        assert view.scroll_offset.y == top + 1
        await pilot.press("pagedown")
        assert view.scroll_offset.y > top + 10
        await pilot.press("end")
        assert view.scroll_offset.y == view.max_scroll_y
        assert screen_text(app).rstrip().endswith("}")
        await pilot.press("home")
        assert view.scroll_offset.y == 0
        assert screen_text(app).splitlines()[0].rstrip().endswith("{")
        await pilot.press("g")  # back to the record
        assert f'"{target}": {{' in screen_text(app)

        await pilot.press("escape")
        assert not isinstance(app.screen, RawFileScreen)
    assert screen.index is not None and screen.index.closed


async def test_key_presses_are_handled_while_indexing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "example_items.json"
    ids = make_big_store(path, 5_000)
    # Small chunks, and the worker held after a few of them until the keys are handled:
    # the keys certainly arrive mid-way, however fast or slow the machine.
    monkeypatch.setattr("tui.screens.raw_screen.DEFAULT_CHUNK_BYTES", 4096)
    original = LineIndex.index_chunk
    gate = threading.Event()
    chunks = 0

    def slow_chunk(self: LineIndex, max_bytes: int = 4096) -> bool:
        nonlocal chunks
        chunks += 1
        if chunks > 10:
            gate.wait(timeout=120)  # (a timeout: a failing test must not hang the run)
        return original(self, max_bytes)

    monkeypatch.setattr(LineIndex, "index_chunk", slow_chunk)
    app = RawApp(path, ids[-1])
    async with app.run_test(size=(100, 30)) as pilot:
        try:
            await open_raw(pilot)
            screen = raw_screen(app)
            await wait_for(pilot, lambda: screen.view.line_count > 0)
            for count in (1, 2, 3):
                app.post_message(events.Key("k", "k"))
                await wait_for(pilot, lambda count=count: app.presses == count)  # type: ignore[misc]
            assert app.progress_at_press is not None and app.progress_at_press < 1.0
            status = str(screen.query_one("#raw-status", Static).render())
            assert status.startswith("Indexing ") and status.endswith("%")
            assert "example_items.json" in status
            assert not screen.indexing_done
            await pilot.press("escape")  # leaving mid-way cancels the worker, closes the file
            assert not isinstance(app.screen, RawFileScreen)
            await wait_for(pilot, lambda: screen.index is not None and screen.index.closed)
        finally:
            gate.set()


async def test_stored_markup_and_control_characters_are_shown_literally(
    tmp_path: Path,
) -> None:
    value = "\x1b[31m [@click=app.quit]x[/] \x9b [bold]b[/bold] \u202e"
    records = {"evil": {"name": value, "[/]": 1}}
    data = store_bytes(records)
    # plus raw bytes no JSON writer would produce: ESC, C1 CSI as UTF-8 and as one byte
    data = data.replace(b"{\n", b'{\n  "raw": "\x1b[2J\xc2\x9b6n\x9b\x07",\n', 1)
    path = write(tmp_path, data)
    app = RawApp(path, "evil")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_raw(pilot)
        screen = raw_screen(app)
        await wait_for(pilot, lambda: screen.indexing_done and screen.record_line is not None)
        await pilot.pause()
        view = screen.view
        text = screen_text(app)
        assert '"raw": "␛[2J\\x9b6n\ufffd␇",' in text
        # json escapes C0 controls; U+009B and U+202E are written as they are
        assert '"name": "\\u001b[31m [@click=app.quit]x[/] \\x9b [bold]b[/bold] \\u202e"' in text
        assert '"[/]": 1' in text
        for y in range(view.size.height):
            for segment in view.render_line(y):
                assert not UNSAFE.search(segment.text)
        # clicking the would-be link does nothing; keys still work; the app runs
        row = next(y for y, t in enumerate(view.visible_text()) if "@click" in t)
        col = view.visible_text()[row].index("x[/]")
        await pilot.click(RawFileView, offset=(col, row))
        await pilot.press("down", "up")
        assert app.is_running
        assert isinstance(app.screen, RawFileScreen)


async def test_current_line_is_highlighted_and_theme_changes_restyle(tmp_path: Path) -> None:
    data = store_bytes({"a": {"name": "x"}, "b": {"name": "y"}})
    app = RawApp(write(tmp_path, data), "b")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_raw(pilot)
        screen = raw_screen(app)
        await wait_for(pilot, lambda: screen.record_line == 4)
        await pilot.pause()
        view = screen.view

        def background(y: int) -> Any:
            segments = list(view.render_line(y))
            return segments[-1].style.bgcolor if segments[-1].style else None

        assert background(4) != background(3)
        before = [seg.style for seg in view.render_line(1)]
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await wait_for(pilot, lambda: [seg.style for seg in view.render_line(1)] != before)
        after = [seg.style for seg in view.render_line(1)]
        assert before != after
        status = str(screen.query_one("#raw-status", Static).render())
        assert status == "Record b at line 5"


@pytest.mark.parametrize("kind", ["missing", "folder", "empty"])
async def test_missing_file_folder_and_empty_file(tmp_path: Path, kind: str) -> None:
    path = {"missing": tmp_path / "nope.json", "folder": tmp_path}.get(kind) or write(tmp_path, b"")
    app = RawApp(path, "abc")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_raw(pilot)
        screen = raw_screen(app)
        await wait_for(pilot, lambda: screen.indexing_done)
        await pilot.pause()
        status = str(screen.query_one("#raw-status", Static).render())
        if kind == "missing":
            assert status == f"Cannot show {path}: no such file"
        elif kind == "folder":
            assert status == f"Cannot show {path}: is a folder, not a file"
        else:
            assert status == "Record abc is not in this file."
            assert "0 lines" in str(screen.query_one("#raw-info", Static).render())
        await pilot.press("escape")
        assert app.is_running and not isinstance(app.screen, RawFileScreen)


async def test_path_with_markup_and_controls_in_the_title(tmp_path: Path) -> None:
    folder = tmp_path / "[b]x[i]\x1b"  # no "/": that separates folders
    folder.mkdir()
    path = write(folder, b'{\n  "a": {}\n}\n', name="[@click=app.quit]q[bold].json")
    app = RawApp(path, None)
    async with app.run_test(size=(200, 30)) as pilot:
        await open_raw(pilot)
        screen = raw_screen(app)
        await wait_for(pilot, lambda: screen.indexing_done)
        await pilot.pause()
        info = str(screen.query_one("#raw-info", Static).render())
        assert "[b]x[i]␛/[@click=app.quit]q[bold].json" in info
        assert screen.sub_title is not None and "\x1b" not in screen.sub_title
        assert app.is_running


async def test_small_file_scrolls_to_the_record(tmp_path: Path) -> None:
    """Indexed in one step, before the view is laid out: the jump must still happen."""
    path = tmp_path / "example_items.json"
    ids = make_big_store(path, 300)
    app = RawApp(path, ids[150])
    async with app.run_test(size=(100, 30)) as pilot:
        await open_raw(pilot)
        screen = raw_screen(app)
        await wait_for(pilot, lambda: screen.indexing_done and screen.record_line is not None)
        await pilot.pause()
        rows = screen.view.visible_text()
        assert any(f'"{ids[150]}": {{' in row for row in rows[:4])
        assert screen.view.scroll_offset.y == screen.record_line - 2  # type: ignore[operator]


async def test_without_a_record_the_view_starts_at_the_top(tmp_path: Path) -> None:
    path = tmp_path / "example_items.json"
    make_big_store(path, 300)
    app = RawApp(path, None)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_raw(pilot)
        screen = raw_screen(app)
        await wait_for(pilot, lambda: screen.indexing_done)
        await pilot.pause()
        assert screen.view.scroll_offset.y == 0
        assert screen.view.current_line is None
        assert not screen.query_one("#raw-status", Static).display
        assert screen.view.check_action("goto_current", ()) is False
        await pilot.press("g")  # hidden, harmless
        assert screen.view.scroll_offset.y == 0
