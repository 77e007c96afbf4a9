"""Validation messages in the words of a form, for the form, the list and the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tui.models import ExampleItem, describe_validation_error, field_errors


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"name": ""}, "name: required: cannot be empty"),
        ({}, "name: required: cannot be empty"),
        ({"name": "x" * 201}, "name: too long: at most 200 characters"),
        ({"name": "x", "tags": "red"}, "tags: must be a list"),
        ({"name": "x", "tags": ["ok", 3]}, "tags.1: must be text"),
        ({"name": "x", "schema_version": "v2"}, "schema_version: must be a whole number"),
        ({"name": 5}, "name: must be text"),
    ],
)
def test_messages_say_what_to_do(data: dict[str, Any], said: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ExampleItem.model_validate({"id": "a", **data})
    assert describe_validation_error(caught.value) == said
    field, _, message = said.partition(": ")
    top = field.split(".")[0]
    inner = field[len(top) + 1 :]
    assert field_errors(caught.value)[top] == (f"{inner}: {message}" if inner else message)
