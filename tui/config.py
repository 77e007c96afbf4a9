"""Where the stores live: ``--data-dir``, else ``TUI_DATA_DIR``, else ``./data``."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tui.schema import COLLECTION_NAMES, DEFAULT_COLLECTION
from tui.stores import JsonStore, SqliteStore
from tui.stores.base import StoreError, check_collection_name

if TYPE_CHECKING:
    from tui.models import BaseRecord

ENV_DATA_DIR = "TUI_DATA_DIR"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_DATA_DIR) or "data")


def _check_known(collection: str) -> None:
    check_collection_name(collection)  # never a path: no separators, no ..
    if collection not in COLLECTION_NAMES:
        known = ", ".join(sorted(COLLECTION_NAMES))
        raise StoreError(f"unknown collection {collection!r} (known: {known})")


def model_for(collection: str = DEFAULT_COLLECTION) -> type[BaseRecord]:
    _check_known(collection)
    from tui.models import COLLECTIONS  # pydantic: imported once a model is wanted

    return COLLECTIONS[collection]


def _model_when_used(collection: str) -> Callable[[], type[BaseRecord]]:
    """The collection's model, imported by the store when it first validates a record:
    the app draws its first rows before."""
    _check_known(collection)
    return functools.partial(model_for, collection)


def json_store(data_dir: Path, collection: str = DEFAULT_COLLECTION) -> JsonStore[BaseRecord]:
    return JsonStore.in_data_dir(data_dir, collection, _model_when_used(collection))


def sqlite_store(data_dir: Path, collection: str = DEFAULT_COLLECTION) -> SqliteStore[BaseRecord]:
    return SqliteStore.in_data_dir(data_dir, collection, _model_when_used(collection))
