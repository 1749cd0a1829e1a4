"""version="code": the code's digest joins the key, in new processes and every hash seed.

Each edit below is made to a module file and judged by a new process, as a user would meet
it: a comment, a docstring, a blank line or a reformatting hits; a changed constant,
default or called method runs again; a helper in another module is not seen (documented).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from conftest import run_script

import cachework
from cachework import _code

REPO = Path(__file__).resolve().parents[1]

STEPS = '''
import cachework
import helpers


class Ingest(cachework.Work):
    """Reads one day."""

    LIMIT = 3

    def run(self, day):
        """Run it."""
        with open("ran.txt", "a") as f:
            f.write("ingest\\n")
        return self.scaled(day) + self.LIMIT + helpers.extra()

    def scaled(self, day, k=2):
        return len(day) * k


@cachework.work(version="code")
def total(day, n=1, *, unit=10):
    """Adds up one day."""
    with open("ran.txt", "a") as f:
        f.write("total\\n")
    return len(day) * n * unit + helpers.extra()


def main():
    print(Ingest(version="code").run("2026-12-01"), total("2026-12-01"))
'''

HELPERS = """
def extra():
    return 1
"""

#: (what, old, new, which works run again): each edit applies to the file as it stands.
EDITS = [
    (
        "a comment",
        "        return self.scaled",
        "        # scaled, then capped\n        return self.scaled",
        set(),
    ),
    ("a docstring's text", '"""Run it."""', '"""Run it, for one day."""', set()),
    ("a docstring removed", '    """Adds up one day."""\n', "", set()),
    ("a class docstring", '"""Reads one day."""', '"""Reads one whole day."""', set()),
    ("blank lines", "    def scaled", "\n\n    def scaled", set()),
    (
        "a reformatting",
        "len(day) * k",
        "(\n            len(day)\n            * k\n        )",
        set(),
    ),
    ("a helper in another module", None, None, set()),
    ("a constant in run", "+ self.LIMIT +", "+ self.LIMIT + 1 +", {"ingest"}),
    ("a default of a called method", "k=2", "k=3", {"ingest"}),
    ("a called method's body", "* k\n", "* k * 2\n", {"ingest"}),
    ("a class constant", "LIMIT = 3", "LIMIT = 4", {"ingest"}),
    ("a function's default", "n=1", "n=2", {"total"}),
    ("a function's keyword-only default", "unit=10", "unit=100", {"total"}),
    ("a function's constant", "n * unit +", "n * unit * 2 +", {"total"}),
]


def _start(folder: Path, seed: int) -> str:
    """One new process that calls both works once, with its own hash seed."""
    env = {
        "PYTHONHASHSEED": str(seed),
        "PYTHONPATH": os.pathsep.join([str(folder), str(REPO)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # an edit within the same second must not meet a stale .pyc
        "CACHEWORK_URL": f"sqlite:///{folder / 'store.db'}",
    }
    return run_script("import steps; steps.main()", env=env, cwd=folder).stdout


def _ran(folder: Path) -> list[str]:
    path = folder / "ran.txt"
    return path.read_text().split() if path.exists() else []


def test_what_reruns_in_a_new_process(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(STEPS)
    (tmp_path / "helpers.py").write_text(HELPERS)
    _start(tmp_path, seed=1)
    assert sorted(_ran(tmp_path)) == ["ingest", "total"]
    _start(tmp_path, seed=2)
    assert len(_ran(tmp_path)) == 2, "an unchanged module hits in another process and seed"
    wrong = []
    for i, (what, old, new, reruns) in enumerate(EDITS):
        if old is None:
            (tmp_path / "helpers.py").write_text(HELPERS.replace("return 1", "return 2"))
        else:
            source = (tmp_path / "steps.py").read_text()
            assert old in source, what
            (tmp_path / "steps.py").write_text(source.replace(old, new, 1))
        before = len(_ran(tmp_path))
        _start(tmp_path, seed=3 + i)
        if set(_ran(tmp_path)[before:]) != reruns:
            wrong.append((what, _ran(tmp_path)[before:], sorted(reruns)))
    assert not wrong, f"(edit, ran, expected): {wrong}"


def test_the_digest_is_the_same_in_every_process_and_hash_seed(tmp_path: Path) -> None:
    # Sets and frozensets in constants and class attributes are where a hash seed shows.
    (tmp_path / "seeded.py").write_text(
        "import cachework\n"
        "class W(cachework.Work):\n"
        "    NAMES = {'a', 'b', 'c', 'd', 'e'}\n"
        "    def run(self, x):\n"
        "        return x in {'p', 'q', 'r', 's'} and x in self.NAMES\n"
        "@cachework.work(version='code')\n"
        "def f(x, kinds=frozenset({'u', 'v', 'w'})):\n"
        "    return {k: x for k in ('x', 'y')}\n"
    )
    digests = set()
    for seed in (0, 1, 2):
        out = run_script(
            "import cachework, seeded\n"
            "print(seeded.W(version='code', store='s.db').key(1), seeded.f.key(1))",
            env={"PYTHONHASHSEED": str(seed), "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
            cwd=tmp_path,
        ).stdout
        digests.add(out)
    assert len(digests) == 1, digests


def _define(source: str, name: str) -> dict:
    """Run a module's source as a fresh module (a new class object each time)."""
    namespace = {"__name__": name, "cachework": cachework}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


WORK = """
class Ingest(cachework.Work):
    def run(self, day):
        return len(day) * FACTOR
"""
FUNCTION = """
def total(day):
    return len(day) * FACTOR
"""


def _reasons(caplog) -> dict[str, str]:
    """work -> why it ran, from the ``running NAME [KEY]: REASON`` lines of the log."""
    reasons = {}
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith("running "):
            name, _, reason = message[len("running ") :].partition(": ")
            reasons[name.split(" [")[0]] = reason
    return reasons


def test_a_miss_because_the_code_changed_says_code_changed(url: str, caplog) -> None:
    for factor, why in ((2, "new"), (3, "code changed")):
        ingest = _define(WORK.replace("FACTOR", str(factor)), "steps")["Ingest"]
        total = _define(FUNCTION.replace("FACTOR", str(factor)), "steps")["total"]
        total = cachework.work(name="total", store=url, version="code")(total)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="cachework"):
            assert ingest(name="ingest", store=url, version="code").run("2026-12-01") == 10 * factor
            assert total("2026-12-01") == 10 * factor
        assert _reasons(caplog) == {"ingest": why, "total": why}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cachework"):
        total("2026-12-02")  # new arguments: new, not a code change
    assert _reasons(caplog) == {"total": "new"}


def test_the_digest_is_taken_once_per_class_or_function(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = []
    digest = _code._digest
    monkeypatch.setattr(_code, "_digest", lambda *a: taken.append(a[0]) or digest(*a))
    ns = _define(WORK.replace("FACTOR", "2"), "once")
    works = [ns["Ingest"](name="once", store=sqlite_url, version="code") for _ in range(3)]
    total = cachework.work(name="t", store=sqlite_url, version="code")(
        _define(FUNCTION.replace("FACTOR", "2"), "t")["total"]
    )
    for _ in range(50):
        for w in works:
            w.run("2026-12-01")
        total("2026-12-01")
    assert taken == ["Ingest", "total"]


def test_the_work_still_reads_version_code(sqlite_url: str) -> None:
    ns = _define(WORK.replace("FACTOR", "2"), "v")
    w = ns["Ingest"](store=sqlite_url, version="code")
    assert w.version == "code"
    plain = ns["Ingest"](store=sqlite_url)
    assert w.key("d") != plain.key("d")
    literal = ns["Ingest"](store=sqlite_url, version=("code", 1))  # any other value: a version
    assert literal.version == ("code", 1) and literal.key("d") not in (w.key("d"), plain.key("d"))


def test_a_default_the_digest_cannot_hash_is_refused_where_the_work_is_made() -> None:
    lock = threading.Lock()

    class Locked(cachework.Work):
        def run(self, day):
            return self.helper(day)

        def helper(self, day, guard=lock):
            return day

    with pytest.raises(cachework.UnhashableArgument, match=r'version="code" of .*Locked.*helper'):
        Locked(version="code")


def test_periods_of_a_code_versioned_work_are_found(sqlite_url: str) -> None:
    @cachework.work(name="daily", store=sqlite_url, every="day", tz="UTC", version="code")
    def daily(period):
        return period.label

    today = daily()
    assert daily.missing(today) == []


def _digest_of(source: str) -> tuple[str, str]:
    return _code.code_version(_define(source, "nested")["outer"], cachework.Work)


NESTED = '''
def outer(x):
    """One text."""

    def inner(y):
        """Another text."""
        return y + 1

    return inner(x) + (lambda: 2)() + sum(v * 3 for v in [x])
'''


def test_docstrings_of_nested_functions_do_not_count_their_constants_do() -> None:
    digest = _digest_of(NESTED)
    bare = NESTED.replace('    """One text."""\n', "").replace('        """Another text."""\n', "")
    assert _digest_of(bare) == digest
    for old, new in (("y + 1", "y + 2"), ("lambda: 2", "lambda: 3"), ("v * 3", "v * 4")):
        assert _digest_of(NESTED.replace(old, new)) != digest, old


def test_a_string_first_in_a_lambda_or_comprehension_is_code_not_a_docstring() -> None:
    # Neither has a docstring slot: a string constant first in them is never stripped.
    lambdas = "def outer(x):\n    return (lambda: 'a')()\n"
    assert _digest_of(lambdas) != _digest_of(lambdas.replace("'a'", "'b'"))
    comprehension = "def outer(x):\n    return list(v * 'a' for v in x)\n"
    assert _digest_of(comprehension) != _digest_of(comprehension.replace("'a'", "'b'"))


CLASS = """
import functools


def helper(x):
    return x + 1


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def plain(fn):
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


class Base(cachework.Work):
    def shared(self):
        return "base"


class Steps(Base):
    NAMES = {"a": (1, 2)}

    def run(self, x):
        return helper(x)

    @staticmethod
    def static():
        return "static"

    @classmethod
    def klass(cls):
        return "class"

    @property
    def prop(self):
        return "prop"

    @functools.cached_property
    def cached(self):
        return "cached"

    @logged
    def wrapped(self):
        return "wrapped"

    @plain
    def closed(self):
        return "closed"
"""


@pytest.mark.parametrize(
    "old, new",
    [
        ('"base"', '"base!"'),
        ('"static"', '"static!"'),
        ('"class"', '"class!"'),
        ('"prop"', '"prop!"'),
        ('"cached"', '"cached!"'),
        ('"wrapped"', '"wrapped!"'),
        ('"closed"', '"closed!"'),
        ("(1, 2)", "(1, 3)"),
    ],
)
def test_every_function_and_constant_of_the_class_counts(old: str, new: str) -> None:
    digest = _code.code_version(_define(CLASS, "cls")["Steps"], cachework.Work)
    assert (
        _code.code_version(_define(CLASS.replace(old, new), "cls")["Steps"], cachework.Work)
        != digest
    )


def test_a_module_level_helper_is_seen_by_its_name_only() -> None:
    # Documented in docs/code-version.md: helpers outside the work are not followed.
    digest = _code.code_version(_define(CLASS, "cls")["Steps"], cachework.Work)
    changed = _define(CLASS.replace("x + 1", "x + 2"), "cls")["Steps"]
    assert _code.code_version(changed, cachework.Work) == digest
