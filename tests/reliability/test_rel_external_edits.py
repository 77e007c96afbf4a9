"""Issue 5, item 4: the JSON file edited outside while the app has it open.

An outside edit of a *different* record survives an in-app save, at every point relative
to the store's reads and writes; an outside edit of the *same* record is never silently
overwritten: the save is refused (RecordConflict), the file stays as the outside program
left it, and the app says so and shows the outside version.

The outside program writes the file directly (json + os.replace, or in place). When it
writes *while* the store writes, it takes the store's lock, as our own CLI does: a
program that ignores the lock and rewrites the file in the very moment the store
replaces it can still lose its edit (no lock-free file format can prevent that).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.app_helpers import (
    SIZE,
    FileState,
    db_path,
    json_path,
    panes,
    type_text,
    wait_for,
    wait_loaded,
)
from tests.records import raw_record
from tests.reliability.budget import Figures, amount
from tui.app import BrowserApp
from tui.models import ExampleItem
from tui.sample import seed_if_empty
from tui.screens.record_form import RecordForm
from tui.stores import JsonStore, SqliteStore, StoreError
from tui.stores.base import ABSENT, RecordConflict
from tui.stores.jsonio import exclusive_lock

COMMAND = "TUI_RELIABILITY=long .venv/bin/pytest tests/reliability/test_rel_external_edits.py"

# Where the outside edit lands, relative to the app's store.
POINTS = ("before open", "after open", "after form opened", "during save", "after save")


def _outside_edit(
    path: Path, record_id: str, description: str, in_place: bool, indent: int | None = 4
) -> bool:
    """What an editor or script does: read the file, change one record, write it back in
    its own layout (``indent``). False (nothing written) when the record is not there."""
    data = json.loads(path.read_text("utf-8"))
    if record_id not in data:
        return False
    data[record_id] = {**data[record_id], "description": description}
    text = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    if in_place:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        tmp = path.with_name(path.name + ".editor-tmp")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    return True


def _start_locked_edit(
    path: Path,
    record_id: str,
    description: str,
    in_place: bool,
    indent: int | None,
    delay: float,
    done: list[bool],
) -> threading.Thread:
    """The outside edit in another thread, under the store's lock (as the CLI writes)."""

    def run() -> None:
        time.sleep(delay)
        with exclusive_lock(path):
            done.append(_outside_edit(path, record_id, description, in_place, indent))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


async def _one_interleaving(
    rng: random.Random, folder: Path, same_record: bool, delete: bool
) -> tuple[bool, str]:
    """One random interleaving of an outside edit and an in-app save (or delete).

    Returns (nothing lost, what happened)."""
    folder.mkdir()
    path = folder / "json" / "example_items.json"
    path.parent.mkdir()
    ids = [f"{n:012x}" for n in rng.sample(range(1, 10**6), rng.randint(2, 12))]
    records = {i: raw_record(i, f"record {i}", description="original") for i in ids}
    path.write_text(json.dumps(records, indent=2) + "\n", "utf-8")
    mine = rng.choice(ids)
    theirs = mine if same_record else rng.choice([i for i in ids if i != mine])
    point = rng.choice(POINTS)
    in_place = rng.random() < 0.5
    # Editors and scripts write their own layout: ours (the store can splice its change
    # in), another indent or one line (the store must read the file again).
    indent = rng.choice((2, 4, None))
    # Half the time as long as the text it replaces: the file keeps its size.
    if rng.random() < 0.5:
        outside = f"outside {rng.randrange(10 ** rng.randint(1, 6))}"
    else:
        outside = f"{rng.randrange(10**8):08d}"  # as long as "original"
    app_name = f"app {rng.randrange(10 ** rng.randint(1, 6))}"
    story = (
        f"{point}, {'in place' if in_place else 'replace'}, indent {indent}, "
        f"{'delete' if delete else 'edit'}"
    )

    edited: list[bool] = []

    def edit_now() -> None:
        edited.append(_outside_edit(path, theirs, outside, in_place, indent))

    if point == "before open":
        edit_now()
    store = JsonStore(path, ExampleItem)
    await store.open()
    conflict: RecordConflict | None = None
    try:
        if point == "after open":
            edit_now()
        entry = await store.get(mine)
        assert entry is not None
        if point == "after form opened":
            edit_now()
        thread = None
        if point == "during save":
            thread = _start_locked_edit(
                path, theirs, outside, in_place, indent, rng.random() * 0.002, edited
            )
            await asyncio.sleep(rng.random() * 0.0015)  # either may take the lock first
        try:
            if delete:
                await store.delete(mine, expect=entry.raw)
            else:
                record = ExampleItem.model_validate({**entry.raw, "name": app_name})
                await store.upsert(record, expect=entry.raw)
        except RecordConflict as exc:
            conflict = exc
        if thread is not None:
            thread.join()
        if point == "after save":
            edit_now()
        # The store works on, and reads what the file holds.
        await store.reload()
        seen = {key: raw async for key, raw in store.iter_raw()}
    finally:
        await store.close()
    final = json.loads(path.read_text("utf-8"))
    if seen != final:
        return False, f"{story}: the store does not read what the file holds"
    # Nothing else lost or changed.
    for other in ids:
        if other not in (mine, theirs) and final.get(other) != records[other]:
            return False, f"{story}: bystander {other} changed"
    if not same_record:
        if conflict is not None:
            return False, f"{story}: a conflict for a different record"
        if final.get(theirs, {}).get("description") != outside:
            return False, f"{story}: the outside edit was lost"
        if delete:
            return (mine not in final), f"{story}: app delete"
        return final.get(mine, {}).get("name") == app_name, f"{story}: app edit"
    # Same record: the app's change and the outside one are both there, or the app's was
    # refused and the outside version is what the file holds.
    got = final.get(mine)
    if conflict is not None:
        ok = got is not None and got["description"] == outside and got["name"] != app_name
        ok = ok and not (point == "before open" and edited == [True])  # it saw that one
        return ok, f"{story}: refused"
    if delete:
        # Deleted: right if the outside edit came before the store read the version the
        # user confirmed, or found the record gone already.
        legit = point == "before open" or edited == [False]
        return got is None and legit, f"{story}: deleted"
    ok = got is not None and got["name"] == app_name and got["description"] == outside
    return ok, f"{story}: saved"


async def _run(
    figures: Figures, tmp_path: Path, name: str, rounds: int, same_record: bool, seed: int
) -> None:
    rng = random.Random(seed)
    failures: list[str] = []
    kept = 0
    for n in range(rounds):
        delete = rng.random() < 0.25
        try:
            ok, story = await _one_interleaving(rng, tmp_path / str(n), same_record, delete)
        except (StoreError, AssertionError) as exc:
            ok, story = False, f"round {n}: {type(exc).__name__}: {exc}"
        if ok:
            kept += 1
        else:
            failures.append(f"round {n}: {story}")
    figures.add(name, rounds, kept, COMMAND)
    assert not failures, failures[:10]


async def test_outside_edit_of_another_record_survives_an_app_save(
    figures: Figures, tmp_path: Path
) -> None:
    await _run(
        figures,
        tmp_path,
        "external edit + app save, other record (JSON)",
        amount(100, 1000),
        same_record=False,
        seed=5_4001,
    )


async def test_outside_edit_of_the_same_record_is_never_silently_overwritten(
    figures: Figures, tmp_path: Path
) -> None:
    await _run(
        figures,
        tmp_path,
        "external edit + app save, same record (JSON)",
        amount(60, 600),
        same_record=True,
        seed=5_4002,
    )


# -- RecordConflict, plainly, on both stores ---------------------------------------------


def _sqlite_outside_update(path: Path, record_id: str, description: str) -> None:
    with sqlite3.connect(path) as db:
        (text,) = db.execute("SELECT data FROM example_items WHERE id = ?", (record_id,)).fetchone()
        raw = json.loads(text)
        raw["description"] = description
        db.execute(
            "UPDATE example_items SET data = ? WHERE id = ?",
            (json.dumps(raw, separators=(",", ":")), record_id),
        )
    db.close()


def _sqlite_outside_delete(path: Path, record_id: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM example_items WHERE id = ?", (record_id,))
    db.close()


def _file_of(kind: str, data_dir: Path) -> Path:
    return json_path(data_dir) if kind == "json" else db_path(data_dir)


def _state(kind: str, data_dir: Path) -> Any:
    """What must not change when a write is refused: the JSON file's bytes; the table's
    rows (a SQLite file's bytes move with its WAL housekeeping)."""
    if kind == "json":
        return FileState.of(json_path(data_dir)).data
    with sqlite3.connect(db_path(data_dir)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT * FROM example_items ORDER BY id").fetchall()
    db.close()
    return rows


def _outside(kind: str, data_dir: Path, record_id: str, description: str | None) -> None:
    """Change (or, with None, delete) one record the way another program would."""
    if kind == "json":
        path = json_path(data_dir)
        if description is None:
            data = json.loads(path.read_text("utf-8"))
            del data[record_id]
            path.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
        else:
            _outside_edit(path, record_id, description, in_place=False)
    elif description is None:
        _sqlite_outside_delete(db_path(data_dir), record_id)
    else:
        _sqlite_outside_update(db_path(data_dir), record_id, description)


def _open(kind: str, data_dir: Path) -> JsonStore[ExampleItem] | SqliteStore[ExampleItem]:
    if kind == "json":
        return JsonStore.in_data_dir(data_dir, "example_items", ExampleItem)
    return SqliteStore.in_data_dir(data_dir, "example_items", ExampleItem)


@pytest.mark.parametrize("kind", ["json", "sqlite"])
async def test_same_record_changed_outside_is_a_conflict_and_nothing_is_written(
    figures: Figures, tmp_path: Path, kind: str
) -> None:
    attempts = ("edit", "delete", "edit after outside delete", "delete after outside delete")
    figures.cases(f"same record changed outside: save refused ({kind})", len(attempts), COMMAND)
    store = _open(kind, tmp_path)
    async with store:
        await store.upsert_many(
            [ExampleItem.model_validate(raw_record(f"{n:012x}", f"r{n}")) for n in range(1, 4)]
        )
    for what in attempts:
        async with _open(kind, tmp_path) as store:
            target = "000000000001"
            entry = await store.get(target)
            assert entry is not None
            gone = "outside delete" in what
            _outside(kind, tmp_path, target, None if gone else f"outside {what}")
            before = _state(kind, tmp_path)
            with pytest.raises(RecordConflict) as caught:
                if what.startswith("edit"):
                    record = ExampleItem.model_validate({**entry.raw, "name": "from the form"})
                    await store.upsert(record, expect=entry.raw)
                else:
                    await store.delete(target, expect=entry.raw)
            assert caught.value.record_id == target
            assert caught.value.now == ("deleted" if gone else "changed")
            assert target in str(caught.value) and "outside" in str(caught.value)
            assert _state(kind, tmp_path) == before
            # The store works on: it now holds the outside version, and a save based on
            # that version goes through.
            now = await store.get(target)
            if gone:
                assert now is None
                record = ExampleItem.model_validate({**entry.raw, "name": "put back"})
                await store.upsert(record, expect=ABSENT)
            else:
                assert now is not None and now.raw["description"] == f"outside {what}"
                record = ExampleItem.model_validate({**now.raw, "name": "second try"})
                await store.upsert(record, expect=now.raw)
            again = await store.get(target)
            assert again is not None and again.raw["name"] in ("put back", "second try")
            # An add of an id that exists is refused the same way.
            with pytest.raises(RecordConflict):
                await store.upsert(record, expect=ABSENT)
    # The unchanged record is saved whatever its raw's key order.
    async with _open(kind, tmp_path) as store:
        entry = await store.get("000000000002")
        assert entry is not None
        record = ExampleItem.model_validate({**entry.raw, "name": "fine"})
        await store.upsert(record, expect=dict(reversed(list(entry.raw.items()))))
        assert (await store.get("000000000002")).raw["name"] == "fine"  # type: ignore[union-attr]


# -- the app ------------------------------------------------------------------------------


@pytest.fixture
async def seeded(tmp_path: Path) -> Path:
    assert await seed_if_empty(tmp_path)
    return tmp_path


async def _open_form_on(pilot: Any, app: BrowserApp, pane_index: int) -> str:
    """Focus the pane, select its second row, open the edit form; the record's id."""
    pane = panes(app)[pane_index]
    if pane_index == 1:
        await pilot.press("tab")
    pane.table.move_to(1)
    await pilot.pause()
    entry = pane.current
    assert entry is not None
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
    return entry.id


@pytest.mark.parametrize("kind", ["json", "sqlite"])
async def test_app_refuses_to_overwrite_a_record_changed_outside(
    figures: Figures, seeded: Path, kind: str
) -> None:
    figures.cases(f"app: same record changed outside, refused ({kind})", command=COMMAND)
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        pane = panes(app)[0 if kind == "json" else 1]
        record_id = await _open_form_on(pilot, app, 0 if kind == "json" else 1)
        form = app.screen
        await pilot.press("end", "space", "X")
        typed = form.query_one("#field-name").value  # type: ignore[attr-defined]
        _outside(kind, seeded, record_id, "changed behind the app")
        before = _state(kind, seeded)
        await pilot.press("ctrl+s")

        def warned() -> bool:
            return any(
                "outside the app" in n.message and record_id in n.message
                for n in app._notifications
            )

        await wait_for(pilot, warned)
        # Nothing written; the form stays open with the typing kept and says why.
        assert _state(kind, seeded) == before
        assert app.screen is form
        assert form.query_one("#field-name").value == typed  # type: ignore[attr-defined]
        general = form.query_one("#form-general-error")
        assert "outside the app" in str(general.render())  # type: ignore[attr-defined]
        # Esc keeps the outside version, which the pane now shows.
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await wait_for(
            pilot,
            lambda: (
                pane.current is not None
                and pane.current.id == record_id
                and pane.current.raw.get("description") == "changed behind the app"
            ),
        )
        assert _state(kind, seeded) == before
        # Saving again from a new form, based on what is shown now, goes through.
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await pilot.press("end", "space", "Y")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await wait_for(
            pilot,
            lambda: pane.current is not None and str(pane.current.raw.get("name")).endswith(" Y"),
        )
        assert pane.current is not None
        assert pane.current.raw["description"] == "changed behind the app"


async def test_app_save_again_overwrites_deliberately(seeded: Path, figures: Figures) -> None:
    figures.cases("app: conflict, then a deliberate overwrite (JSON)", command=COMMAND)
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        pane = panes(app)[0]
        record_id = await _open_form_on(pilot, app, 0)
        await pilot.press("end", "space", "X")
        _outside("json", seeded, record_id, "changed behind the app")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("outside" in n.message for n in app._notifications))
        assert isinstance(app.screen, RecordForm)
        await pilot.press("ctrl+s")  # the user read the message and saves anyway
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await wait_for(pilot, lambda: pane.current is not None and pane.current.id == record_id)
    final = json.loads(json_path(seeded).read_text("utf-8"))[record_id]
    assert final["name"].endswith(" X")


async def test_app_save_keeps_an_outside_edit_of_another_record(
    seeded: Path, figures: Figures
) -> None:
    figures.cases("app: other record changed outside, both kept (JSON)", command=COMMAND)
    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        pane = panes(app)[0]
        record_id = await _open_form_on(pilot, app, 0)
        other = next(
            key for key in json.loads(json_path(seeded).read_text("utf-8")) if key != record_id
        )
        await type_text(pilot, " edited")
        _outside("json", seeded, other, "changed behind the app")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await wait_for(
            pilot,
            lambda: (
                pane.current is not None and str(pane.current.raw.get("name")).endswith(" edited")
            ),
        )
        assert not any("outside the app" in n.message for n in app._notifications)
    final = json.loads(json_path(seeded).read_text("utf-8"))
    assert final[record_id]["name"].endswith(" edited")
    assert final[other]["description"] == "changed behind the app"


@pytest.mark.parametrize("kind", ["json", "sqlite"])
async def test_app_delete_of_a_record_changed_outside_is_refused(
    seeded: Path, figures: Figures, kind: str
) -> None:
    figures.cases(f"app: delete of a record changed outside, refused ({kind})", command=COMMAND)
    from tui.screens.confirm import ConfirmScreen

    app = BrowserApp(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        index = 0 if kind == "json" else 1
        pane = panes(app)[index]
        if index:
            await pilot.press("tab")
        pane.table.move_to(1)
        await pilot.pause()
        assert pane.current is not None
        record_id = pane.current.id
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        _outside(kind, seeded, record_id, "changed behind the app")
        before = _state(kind, seeded)
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Not deleted" in n.message for n in app._notifications))
        assert _state(kind, seeded) == before
        await wait_for(
            pilot,
            lambda: (
                pane.current is not None
                and pane.current.raw.get("description") == "changed behind the app"
            ),
        )


def test_same_value_is_json_equality() -> None:
    from tui.stores.base import same_value

    assert same_value({"a": [1, "x", None], "b": 1.5}, {"b": 1.5, "a": [1, "x", None]})
    assert not same_value({"a": 1}, {"a": 1.0})
    assert not same_value({"a": 1}, {"a": True})
    assert not same_value([1, 2], [1, 2, 3])
    assert not same_value({"a": 1}, {"a": 1, "b": 2})
    assert same_value(float("nan"), float("nan"))  # else a record holding one never saves
    assert not same_value("1", 1)
