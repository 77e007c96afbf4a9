"""The data layer's stores: one async interface, a JSON file and a SQLite table behind it.

Nothing here imports Textual; the command line, the app and the tests all use it alike.
"""

from tui.stores.base import (
    DatabaseError,
    Entry,
    FileFormatError,
    InvalidRecord,
    Page,
    Query,
    RecordNotFound,
    Store,
    StoreError,
)
from tui.stores.json_store import JsonStore
from tui.stores.sqlite_store import SqliteStore

__all__ = [
    "DatabaseError",
    "Entry",
    "FileFormatError",
    "InvalidRecord",
    "JsonStore",
    "Page",
    "Query",
    "RecordNotFound",
    "SqliteStore",
    "Store",
    "StoreError",
]
