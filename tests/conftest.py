"""Shared fixtures. Keep this small and generic: test files own their specific helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tui.models import ExampleItem
from tui.stores import JsonStore, SqliteStore

AnyStore = JsonStore[ExampleItem] | SqliteStore[ExampleItem]
OpenStore = Callable[..., Awaitable[AnyStore]]
STORE_KINDS = ("json", "sqlite")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private data folder; the stores create ``json/`` and ``db/`` inside it."""
    return tmp_path


def make_store(kind: str, data_dir: Path) -> AnyStore:
    """An unopened ``example_items`` store of ``kind`` ("json" or "sqlite") in ``data_dir``."""
    if kind == "json":
        return JsonStore.in_data_dir(data_dir, "example_items", ExampleItem)
    if kind == "sqlite":
        return SqliteStore.in_data_dir(data_dir, "example_items", ExampleItem)
    raise ValueError(f"unknown store kind {kind!r}")


@pytest.fixture
async def open_store(data_dir: Path) -> AsyncIterator[OpenStore]:
    """A factory: ``await open_store("json")`` opens a fresh store object on ``data_dir``
    (or on ``data_dir=...``); every store it opened is closed after the test."""
    opened: list[AnyStore] = []

    async def factory(kind: str, data_dir: Path = data_dir) -> AnyStore:
        new = make_store(kind, data_dir)
        await new.open()
        opened.append(new)
        return new

    try:
        yield factory
    finally:
        for each in opened:
            await each.close()


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, open_store: OpenStore) -> AnyStore:
    """An opened store of each kind (test ids ``json`` and ``sqlite``), closed afterwards."""
    return await open_store(request.param)
