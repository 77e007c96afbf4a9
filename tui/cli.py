"""The command line: the same operations as the app, for scripts and CI.

stdout carries data, stderr carries messages. A failure is one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from tui.config import json_store, model_for, resolve_data_dir, sqlite_store
from tui.first_rows import start_reading_first_rows
from tui.schema import new_id
from tui.stores import Entry, JsonStore, Query, Store, StoreError
from tui.stores.base import ABSENT, SORT_FIELDS, RecordConflict, SavedNotDurable
from tui.text import BIDI_CONTROLS, INVISIBLE_CHARS, cell_text, printable

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse prints usage + message, exit 2
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {printable(message)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


DETAILS_HELP = (
    "also print every record the plan writes (changed ones field by field), keeps and skips"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m tui",
        description="Browse and move records between a JSON store and a SQLite store. "
        "With no subcommand, opens the terminal browser.",
    )
    parser.add_argument(
        "--data-dir", help="folder holding json/ and db/ (default: $TUI_DATA_DIR or ./data)"
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)

    def backend(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", choices=("sqlite", "json"), default="sqlite")

    p = sub.add_parser("list", help="list records")
    backend(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--filter", default="", help="case-insensitive substring of any value")
    p.add_argument("--sort", choices=SORT_FIELDS, default="id")
    p.add_argument("--desc", action="store_true", help="sort descending")

    p = sub.add_parser("get", help="print one record as JSON")
    p.add_argument("id")
    backend(p)

    p = sub.add_parser("add", help="add a record")
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--tag", action="append", default=[], help="repeat for several tags")
    p.add_argument("--id", help="id to use (default: 12 hex characters of a uuid4)")
    backend(p)

    p = sub.add_parser("edit", help="change fields of a record")
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument(
        "--tag",
        action="append",
        help='replaces the tags; repeat for several; --tag "" clears them',
    )
    backend(p)

    p = sub.add_parser("delete", help="delete a record")
    p.add_argument("id")
    backend(p)

    p = sub.add_parser("export", help="copy records SQLite -> JSON (after printing the plan)")
    p.add_argument("--dry-run", action="store_true", help="print the plan only")
    p.add_argument("--details", action="store_true", help=DETAILS_HELP)

    p = sub.add_parser("import", help="copy records from a JSON file into a store")
    p.add_argument("--target", choices=("sqlite", "json"), default="sqlite")
    p.add_argument("--from", dest="source", help="JSON file in the store layout")
    p.add_argument("--dry-run", action="store_true", help="print the plan only")
    p.add_argument("--details", action="store_true", help=DETAILS_HELP)

    sub.add_parser("schema", help="print the record schema (JSON Schema)")

    p = sub.add_parser(
        "generate", help="fill empty stores with generated example items (for trying out scale)"
    )
    p.add_argument("--count", type=_count, required=True, help="how many records")
    p.add_argument("--backend", choices=("sqlite", "json", "both"), default="sqlite")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same records")
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _store(data_dir: Path, backend: str, *, create: bool = True) -> Store[Any]:
    """The store of ``backend``; with ``create`` False (work that only reads, or writes
    only to records that exist), a missing database is read as empty, never created."""
    if backend == "json":
        return json_store(data_dir)
    store = sqlite_store(data_dir)
    store.create = create
    return store


def _message(text: str) -> None:
    print(text, file=sys.stderr)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


# Characters JSON leaves unescaped that a terminal may still act on (DEL, C1 controls such
# as the one-byte CSI U+009B, bidi overrides). They only occur inside JSON strings, so a
# \uXXXX escape keeps the output valid JSON that decodes to exactly the stored data.
_JSON_UNSAFE = re.compile("[\x7f-\x9f" + BIDI_CONTROLS + INVISIBLE_CHARS + "]")


def _raw_json(value: Any) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")
    except TypeError:
        import json

        text = json.dumps(value, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


async def _opened(store: Store[Any]) -> Store[Any]:
    await store.open()
    if isinstance(store, JsonStore):
        error = await store.checked()  # off the loop: the load's check may still run
        if error is not None:
            await store.close()
            raise error
    return store


async def cmd_list(args: argparse.Namespace, data_dir: Path) -> int:
    store = await _opened(_store(data_dir, args.backend, create=False))
    try:
        query = Query(sort=args.sort, descending=args.desc, filter=args.filter)
        entries: list[Entry[Any]] = []
        offset = 0
        while True:
            page = await store.page(query, offset=offset, limit=1000)
            entries.extend(page.entries)
            offset += len(page.entries)
            if not page.entries or offset >= page.total:
                break
    finally:
        await store.close()
    if args.format == "json":
        _out(_raw_json([e.raw for e in entries]))
    else:
        _out(_table(entries))
    invalid = sum(1 for e in entries if not e.valid)
    _message(
        f"{len(entries)} record(s) in {printable(store.label)}"
        + (f", {invalid} invalid" if invalid else "")
    )
    return 0


def _table(entries: list[Entry[Any]]) -> str:
    header = ("ID", "NAME", "TAGS", "UPDATED")
    rows = []
    for e in entries:
        raw = e.raw if isinstance(e.raw, dict) else {}
        name = cell_text(raw.get("name"), 40)
        if not e.valid:
            name = f"(invalid: {cell_text(e.error, 60)}) {name}"
        rows.append(
            (
                cell_text(e.id, 24),
                name,
                cell_text(raw.get("tags"), 30),
                cell_text(raw.get("updated_at"), 27),
            )
        )
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


async def _require(store: Store[Any], record_id: str) -> Entry[Any]:
    entry = await store.get(record_id)
    if entry is None:
        raise CliError(f"no record with id {printable(record_id)!r} in {printable(store.label)}")
    return entry


async def cmd_get(args: argparse.Namespace, data_dir: Path) -> int:
    store = await _opened(_store(data_dir, args.backend, create=False))
    try:
        entry = await _require(store, args.id)
    finally:
        await store.close()
    _out(_raw_json(entry.raw))
    if not entry.valid:
        _message(f"warning: record is invalid: {printable(entry.error or '')}")
    return 0


def _validate(model: type[Any], raw: dict[str, Any]) -> Any:
    # pydantic: the model given was imported with it (the browser's start needs neither)
    from pydantic import ValidationError

    from tui.models import describe_validation_error

    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise CliError(f"invalid record: {printable(describe_validation_error(exc))}") from None


async def cmd_add(args: argparse.Namespace, data_dir: Path) -> int:
    model = model_for()
    raw = {
        "id": args.id if args.id is not None else new_id(),
        "name": args.name,
        "description": args.description,
        "tags": args.tag,
    }
    record = _validate(model, raw)
    store = await _opened(_store(data_dir, args.backend))
    try:
        try:
            # Checked in the write itself: no other writer can slip one in between.
            await store.upsert(record, expect=ABSENT)
        except RecordConflict:
            raise CliError(
                f"a record with id {printable(record.id)!r} already exists in "
                f"{printable(store.label)}; use edit"
            ) from None
    finally:
        await store.close()
    _out(record.id)
    _message(f"added {printable(record.id)} to {printable(store.label)}")
    return 0


async def cmd_edit(args: argparse.Namespace, data_dir: Path) -> int:
    # An empty --tag is the only way to say "no tags": it adds no empty tag.
    tags = None if args.tag is None else [tag for tag in args.tag if tag]
    changes = {
        k: v
        for k, v in (("name", args.name), ("description", args.description), ("tags", tags))
        if v is not None
    }
    if not changes:
        raise CliError("nothing to change: give --name, --description or --tag")
    store = await _opened(_store(data_dir, args.backend, create=False))
    try:
        entry = await _require(store, args.id)
        if not isinstance(entry.raw, dict):
            # Editing would replace the stored value with the given fields alone.
            raise CliError(
                f"record {printable(args.id)!r} in {printable(store.label)} is not a JSON object"
                f" ({printable(entry.error or 'invalid')}); nothing was changed:"
                " fix it by hand, or delete it and add it again"
            )
        base = entry.raw
        # The record stays under the id it was asked for, even when its stored id field
        # says otherwise (an invalid entry): never write over another record.
        record = _validate(store.model, {**base, **changes, "id": args.id})
        try:
            await store.upsert(record, expect=base)
        except RecordConflict:
            raise _changed_meanwhile(args.id, store) from None
    finally:
        await store.close()
    _message(f"updated {printable(args.id)} in {printable(store.label)}")
    return 0


def _changed_meanwhile(record_id: str, store: Store[Any]) -> CliError:
    return CliError(
        f"record {printable(record_id)!r} in {printable(store.label)} was changed by someone"
        " else while this command ran; nothing was changed: run it again"
    )


async def cmd_delete(args: argparse.Namespace, data_dir: Path) -> int:
    store = await _opened(_store(data_dir, args.backend, create=False))
    try:
        entry = await _require(store, args.id)
        try:
            await store.delete(args.id, expect=entry.raw)
        except RecordConflict:
            raise _changed_meanwhile(args.id, store) from None
    finally:
        await store.close()
    _message(f"deleted {printable(args.id)} from {printable(store.label)}")
    return 0


async def _transfer(
    source: Store[Any], target: Store[Any], dry_run: bool, verb: str, details: bool = False
) -> int:
    from tui import plan_details, transfer  # the browser's start does not need them

    source = await _opened(source)
    try:
        target = await _opened(target)
        try:
            plan = await transfer.make_plan(source, target)
            _out(f"{verb}: {printable(source.label)} -> {printable(target.label)}")
            for line in plan.summary_lines():
                _out("  " + printable(line))
            if details:
                async for detail in plan_details.iter_lines(plan, target):
                    _out("  " + printable(detail.text))
            if dry_run:
                _message("dry run: nothing written")
            elif plan.nothing_to_do:
                _message("nothing to copy: the target already has every record")
            else:
                result = await transfer.apply(plan, target)
                _message(f"{verb}: wrote {result.written} record(s) to {printable(target.label)}")
        finally:
            await target.close()
    finally:
        await source.close()
    return 0


async def cmd_export(args: argparse.Namespace, data_dir: Path) -> int:
    source = _store(data_dir, "sqlite", create=False)  # export only reads the database
    return await _transfer(source, json_store(data_dir), args.dry_run, "export", args.details)


async def cmd_import(args: argparse.Namespace, data_dir: Path) -> int:
    if args.source:
        path = Path(args.source)
        if not path.is_file():
            raise CliError(f"{path}: no such file")
        source: Store[Any] = JsonStore(path, model_for(), lock_file=False)
    else:
        source = json_store(data_dir)
    target = _store(data_dir, args.target, create=not args.dry_run)
    if (
        isinstance(target, JsonStore)
        and isinstance(source, JsonStore)
        and source.path.resolve() == target.path.resolve()
    ):
        raise CliError("the source and the target are the same file")
    return await _transfer(source, target, args.dry_run, "import", args.details)


async def cmd_generate(args: argparse.Namespace, data_dir: Path) -> int:
    from tui.generate import Backend, fill_stores  # only this command needs the generator

    backends: tuple[Backend, ...] = (
        ("sqlite", "json") if args.backend == "both" else (args.backend,)
    )
    stores = [_store(data_dir, backend) for backend in backends]
    # Refuse before writing anything: generated records are only for empty stores.
    for store in stores:
        if store.path.exists() and store.path.stat().st_size > 0:
            raise CliError(
                f"{printable(store.label)} already exists and is not empty; nothing was"
                " written (generate only fills empty stores: use another --data-dir)"
            )
    for backend, store in zip(backends, stores, strict=True):
        start = time.perf_counter()
        await fill_stores(data_dir, args.count, backend, seed=args.seed)
        elapsed = time.perf_counter() - start
        _message(
            f"generated {args.count} record(s) into {printable(store.label)} in {elapsed:.2f} s"
        )
    return 0


def cmd_schema() -> int:
    _out(_raw_json(model_for().model_json_schema()))
    return 0


COMMANDS = {
    "list": cmd_list,
    "get": cmd_get,
    "add": cmd_add,
    "edit": cmd_edit,
    "delete": cmd_delete,
    "export": cmd_export,
    "import": cmd_import,
    "generate": cmd_generate,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data_dir = resolve_data_dir(args.data_dir)
    try:
        if args.command is None:
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                # A script that forgot its subcommand should fail, not hang in a UI.
                raise CliError("no subcommand, and not on a terminal to start the browser")
            # The SQLite pane's first rows are read meanwhile (see tui.first_rows).
            first_rows = start_reading_first_rows(data_dir)
            from tui.app import run_app  # Textual is imported only when the app runs

            return run_app(data_dir, first_rows)
        if args.command == "schema":
            return cmd_schema()
        return asyncio.run(COMMANDS[args.command](args, data_dir))
    except SavedNotDurable as exc:  # written: a script must not retry it
        _message(f"warning: {printable(str(exc))}")
        return 0
    except (CliError, StoreError) as exc:
        _message(f"error: {printable(str(exc))}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _message("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # never a traceback: one line, and a non-zero exit
        _message(f"error: unexpected {type(exc).__name__}: {printable(str(exc))}")
        return EXIT_ERROR


__all__ = ["main"]
