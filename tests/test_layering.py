"""The data layer (models, stores, transfer) never needs the screen: it imports no Textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tui

PACKAGE = Path(tui.__file__).parent
DATA_LAYER = [
    PACKAGE / "models.py",
    PACKAGE / "transfer.py",
    *sorted((PACKAGE / "stores").glob("*.py")),
]
FORBIDDEN = ("textual", "rich")  # Rich is Textual's renderer: the screen, all the same


def test_importing_the_data_layer_loads_no_textual() -> None:
    code = (
        "import sys\n"
        "import tui.models, tui.stores, tui.transfer\n"
        "import tui.stores.json_store, tui.stores.sqlite_store, tui.stores.jsonio\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
        "assert 'tui.stores.sqlite_store' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"the data layer pulled in: {done.stdout.strip()}"


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth of the file (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return found


def test_data_layer_sources_import_no_textual() -> None:
    assert len(DATA_LAYER) >= 7  # models, transfer and the stores' modules were all found
    offenders = {}
    for path in DATA_LAYER:
        bad = {m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN}
        # ...nor the package's screen or command-line layers
        bad |= {
            m
            for m in imported_modules(path)
            if m.split(".")[:2]
            in (["tui", "app"], ["tui", "screens"], ["tui", "widgets"], ["tui", "cli"])
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_the_scan_would_notice(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "def late():\n"
        "    from textual.widgets import DataTable\n"
        "    import importlib; importlib.import_module('rich.text')\n"
    )
    assert {"textual.widgets", "rich.text", "os"} <= imported_modules(sample)
