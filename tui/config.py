"""Where the stores live: ``--data-dir``, else ``TUI_DATA_DIR``, else ``./data``."""

from __future__ import annotations

import os
from pathlib import Path

from tui.models import COLLECTIONS, DEFAULT_COLLECTION, BaseRecord
from tui.stores import JsonStore, SqliteStore
from tui.stores.base import StoreError, check_collection_name

ENV_DATA_DIR = "TUI_DATA_DIR"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_DATA_DIR) or "data")


def model_for(collection: str = DEFAULT_COLLECTION) -> type[BaseRecord]:
    check_collection_name(collection)  # never a path: no separators, no ..
    try:
        return COLLECTIONS[collection]
    except KeyError:
        known = ", ".join(sorted(COLLECTIONS))
        raise StoreError(f"unknown collection {collection!r} (known: {known})") from None


def json_store(data_dir: Path, collection: str = DEFAULT_COLLECTION) -> JsonStore[BaseRecord]:
    return JsonStore.in_data_dir(data_dir, collection, model_for(collection))


def sqlite_store(data_dir: Path, collection: str = DEFAULT_COLLECTION) -> SqliteStore[BaseRecord]:
    return SqliteStore.in_data_dir(data_dir, collection, model_for(collection))
