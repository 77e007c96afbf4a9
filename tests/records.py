"""Test data shared by the store tests: raw records and hypothesis JSON strategies."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)


def json_values(max_leaves: int) -> st.SearchStrategy[Any]:
    """Any JSON value orjson can write (nested lists and objects, finite numbers)."""
    return st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=max_leaves,
    )


def raw_record(record_id: str, name: str, **fields: Any) -> dict[str, Any]:
    """A stored example item with fixed timestamps; ``fields`` add or replace fields."""
    raw: dict[str, Any] = {
        "id": record_id,
        "schema_version": 1,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-01T00:00:00.000000Z",
        "name": name,
        "description": "",
        "tags": [],
    }
    return raw | fields


def identical(a: Any, b: Any) -> bool:
    """The very same value: types, key order, the sign of zero."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)
