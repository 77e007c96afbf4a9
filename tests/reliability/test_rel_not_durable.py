"""A write that landed but could not be confirmed on disk (the folder's fsync failed
after the rename) is reported as done with a warning: never as "not saved", which would
invite a second write (a second add makes a duplicate record)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.app_helpers import SIZE, json_path, type_text, wait_for, wait_loaded
from tests.reliability.budget import Figures
from tui import cli
from tui.app import BrowserApp
from tui.sample import seed_if_empty
from tui.screens.record_form import RecordForm
from tui.stores import JsonStore
from tui.stores.base import SavedNotDurable

COMMAND = ".venv/bin/pytest tests/reliability/test_rel_not_durable.py"


def _landed_but_not_synced(monkeypatch: pytest.MonkeyPatch, method: str) -> list[str]:
    """Make ``JsonStore.<method>`` write for real, then raise SavedNotDurable."""
    real = getattr(JsonStore, method)
    calls: list[str] = []

    async def written_then_unsynced(self: JsonStore[Any], *args: Any, **kwargs: Any) -> Any:
        await real(self, *args, **kwargs)
        calls.append(method)
        raise SavedNotDurable(f"{self.path}: saved, but the folder could not be synced")

    monkeypatch.setattr(JsonStore, method, written_then_unsynced)
    return calls


def _names(data_dir: Path) -> list[str]:
    records = json.loads(json_path(data_dir).read_bytes())
    return [r["name"] for r in records.values()]


async def test_app_add_that_was_not_synced_closes_the_form_and_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    figures.cases("writes landed but not synced: reported as saved", command=COMMAND)
    await seed_if_empty(tmp_path)
    calls = _landed_but_not_synced(monkeypatch, "upsert")
    app = BrowserApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordForm))
        await type_text(pilot, "Landed once")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, RecordForm))
        await pilot.press("ctrl+s")  # a second save has no form to come from
        await pilot.pause()
        warnings = [n for n in app._notifications if n.severity == "warning"]
        assert any("could not be synced" in n.message for n in warnings)
        assert not any(n.severity == "error" for n in app._notifications)
    assert calls == ["upsert"]
    assert _names(tmp_path).count("Landed once") == 1


def test_cli_add_that_was_not_synced_exits_0_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _landed_but_not_synced(monkeypatch, "upsert")
    argv = ["--data-dir", str(tmp_path), "add", "--backend", "json", "--name", "Once"]
    assert cli.main(argv) == 0
    assert "warning:" in capsys.readouterr().err
    assert _names(tmp_path) == ["Once"]


def test_cli_delete_that_was_not_synced_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["--data-dir", str(tmp_path), "add", "--backend", "json", "--name", "X"]) == 0
    (record_id,) = json.loads(json_path(tmp_path).read_bytes())
    _landed_but_not_synced(monkeypatch, "delete")
    assert cli.main(["--data-dir", str(tmp_path), "delete", "--backend", "json", record_id]) == 0
    assert json.loads(json_path(tmp_path).read_bytes()) == {}
