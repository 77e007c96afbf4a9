"""The reliability suite (issue 5): fault injection, crash loops, concurrent writers,
hostile input. Its quick part runs with every ``pytest``; the long part with

    TUI_RELIABILITY=long .venv/bin/pytest tests/reliability

Each test counts what it did (faults injected, kills survived, operations kept, bad
inputs tried) through the ``figures`` fixture; the counts are printed at the end of the
run, so docs/reliability.md can quote a run instead of a claim.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.reliability.budget import FIGURES, LONG, Figures


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    yield FIGURES


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # Setup and teardown reports matter too: a failing teardown (say, a thread left
    # behind) means the cases did not come out clean.
    if call.when == "call" and not report.passed:
        FIGURES.settle(passed=False)
    elif call.when == "teardown":
        FIGURES.settle(passed=report.passed)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.rows:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"reliability figures ({'long' if LONG else 'quick'} run)")
    width = max(len(name) for name in FIGURES.rows)
    write(f"{'what':<{width}}  {'tried':>7}  {'nothing lost':>12}")
    for name, row in sorted(FIGURES.rows.items()):
        write(f"{name:<{width}}  {row.tried:>7}  {row.nothing_lost:>12}")
