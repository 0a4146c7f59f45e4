"""A pytest plugin for `make mutation` only (loaded by pyproject's [tool.mutmut] pytest args).

tools/delivery.py is tested the way the workflows run it: `python -m tools.delivery` in a
subprocess (tests/test_delivery.py). mutmut 3 switches mutants inside its own process and learns
which tests reach a function from calls it sees there, so on its own it would call every delivery
mutant untested. This plugin closes both gaps: a subprocess inherits the mutant under test, and
during mutmut's coverage pass every test that runs the delivery command counts as reaching
every delivery function (coarse: such a mutant runs all those tests, never too few).

mutmut also credits a function to the test that was running when it was called, so what a shared
fixture (the session's mock-engine `runs` of every stack) calls was credited to the first test
that used it, and a mutant there never met the other tests. Here every test using that fixture
is credited with it.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

SUBPROCESS_TESTED = {"tools.delivery": "tests/test_delivery.py"}
_popen_init = subprocess.Popen.__init__
_fixture_hits: dict[str, set[str]] = {}  # a shared fixture -> the functions its setup called


def _inherit_mutant(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    env = kwargs.get("env")
    mutant = os.environ.get("MUTANT_UNDER_TEST")
    if env is not None and mutant and "MUTANT_UNDER_TEST" not in env:
        argv = [str(a) for a in (args[0] if args else kwargs.get("args", ()))]
        for module in SUBPROCESS_TESTED:
            # `python -m tools.delivery` runs that module as __main__, which is what its functions
            # then call their module; mutmut switches only the mutants of the module it names.
            if mutant.startswith(f"{module}.") and argv[1:3] == ["-m", module]:
                mutant = "__main__." + mutant.removeprefix(f"{module}.")
        kwargs["env"] = {**env, "MUTANT_UNDER_TEST": mutant}
    _popen_init(self, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _inherit_mutant  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _popen_init  # type: ignore[method-assign]


def _collecting_stats() -> bool:
    return os.environ.get("MUTANT_UNDER_TEST") == "stats"


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    if not _collecting_stats() or fixturedef.scope == "function":
        yield
        return
    from mutmut.state import state

    before = set(state()._stats)
    state()._stats.clear()
    yield
    _fixture_hits[fixturedef.argname] = set(state()._stats)
    state()._stats.update(before)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if not _collecting_stats():
        return
    import importlib

    from mutmut.stats import record_trampoline_hit

    for fixture in getattr(item, "fixturenames", ()):
        for name in _fixture_hits.get(fixture, ()):
            record_trampoline_hit(name)

    for module_name, test_file in SUBPROCESS_TESTED.items():
        if not item.nodeid.removeprefix("mutants/").startswith(test_file):
            continue
        module = importlib.import_module(module_name)
        for name in vars(module):  # mutmut keeps each function's original as x_<name>__mutmut_orig
            if name.startswith("x_") and name.endswith("__mutmut_orig"):
                record_trampoline_hit(f"{module_name}.{name.removesuffix('__mutmut_orig')}")
