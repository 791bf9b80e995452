"""pytest plugin (registered through the package's `pytest11` entry point, so every pytest run
in the venv loads it, whichever folder its tests are in). Strict mode for CI: with
DEMIX_STRICT_TESTS=1 (set by `cargo xtask test`, whose setup installs everything the tests need)
a skipped test is a failure, so a missing package, tool or file cannot turn a check into a
silent pass. Tests marked `optional` may still skip: they look at things no
setup step makes (a dataset rendered by hand)."""
from __future__ import annotations

import os

import pytest

STRICT = os.environ.get("DEMIX_STRICT_TESTS") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "optional: may skip even in strict mode (looks at hand-made data)")


def _fail_skip(report, reason):
    report.outcome = "failed"
    report.longrepr = f"skipped in strict mode (DEMIX_STRICT_TESTS=1): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not item.get_closest_marker("optional") \
            and not hasattr(report, "wasxfail"):
        _fail_skip(report, report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped:  # a module-level importorskip
        _fail_skip(report, report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
