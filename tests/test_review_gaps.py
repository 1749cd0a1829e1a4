"""What a review of the one-job-per-module and docs issues found still wrong: columns that
share a name in ``cachework sql``, writes on a read-only store, user SQL that SQLAlchemy
would parse, the command's own decisions and error forms, ``db current`` on an empty file."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import cachework
from cachework._cli import cli, main


def invoke(url: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--url", url, *args])


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the command as a user does, expect exit 1 and one line of error; return it."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 1
    out = capsys.readouterr()
    assert out.err.startswith("cachework: error: ") and out.err.count("\n") == 1, out.err
    return out.err


# -- cachework sql: two columns of one name -----------------------------------------------------
def test_sql_keeps_two_columns_of_one_name(filled):
    r = invoke(filled, "sql", "SELECT 1 AS a, 2 AS a")
    assert r.exit_code == 0, r.output
    assert [line.split() for line in r.output.splitlines()] == [["a", "a"], ["1", "2"]]
    r = invoke(filled, "--csv", "sql", "SELECT 1 AS a, 2 AS a")
    assert list(csv.reader(io.StringIO(r.output))) == [["a", "a"], ["1", "2"]]
    r = invoke(filled, "--tsv", "sql", "SELECT 1 AS a, 2 AS a")
    assert r.output.splitlines() == ["a\ta", "1\t2"]
    r = invoke(filled, "--json", "sql", "SELECT 1 AS a, 2 AS a, 3 AS a_2")
    assert json.loads(r.output) == [{"a": 1, "a_3": 2, "a_2": 3}]


def test_sql_keeps_both_statuses_of_a_join(filled):
    query = (
        "SELECT c.status, r.status FROM cachework_calls c JOIN cachework_runs r "
        "ON r.work = c.work AND r.key = c.key ORDER BY r.id"
    )
    r = invoke(filled, "--json", "sql", query)
    assert json.loads(r.output) == [
        {"status": "succeeded", "status_2": "succeeded"},
        {"status": "succeeded", "status_2": "succeeded"},
        {"status": "failed", "status_2": "failed"},
    ]
    rows = list(csv.reader(io.StringIO(invoke(filled, "--csv", "sql", query).output)))
    assert rows[0] == ["status", "status"] and rows[3] == ["failed", "failed"]
    table = invoke(filled, "sql", query).output.splitlines()
    assert table[0].split() == ["status", "status"] and table[3].split() == ["failed", "failed"]


def test_sql_prints_bytes_one_way(filled):
    query = "SELECT result FROM cachework_calls WHERE status = 'succeeded'"
    table = invoke(filled, "sql", query).output.splitlines()[1:]
    as_json = [row["result"] for row in json.loads(invoke(filled, "--json", "sql", query).output)]
    assert [line.strip() for line in table] == as_json
    assert all(v.startswith("<") and v.endswith(" bytes>") for v in as_json), as_json


# -- writes on a read-only store ----------------------------------------------------------------
def _read_only_store(tmp_path):
    """A filled SQLite store's folder, and a context that shows it read-only."""
    import os
    import sys
    from pathlib import Path

    from conftest import run_script
    from test_hardening import read_only

    folder = tmp_path / "data"
    folder.mkdir()
    run_script(
        f"from test_surface import _filled; _filled({str(folder / 's.db')!r})",
        env={"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])},
    )
    return read_only(folder)


def _cachework(*args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "cachework", *args], capture_output=True, text=True, timeout=120
    )


def test_writes_on_a_read_only_store_are_one_store_error(tmp_path):
    from conftest import run_script

    with _read_only_store(tmp_path) as view:
        path = str(view / "s.db")
        before = sorted(os.listdir(view))
        code = f"""
        import datetime as dt
        import cachework

        store = cachework.Store({path!r})
        tries = {{
            "forget": lambda: store.forget("ingest", day=3),
            "forget key": lambda: store.forget("ingest", key=store.calls("ingest")[0].key),
            "forget_all": lambda: store.forget_all("ingest"),
            "forget_calls": lambda: store.forget_calls(store.calls("ingest")),
            "prune": lambda: store.prune(dt.timedelta(0)),
            "prune vacuum": lambda: store.prune(dt.timedelta(days=999), vacuum=True),
            "downgrade": lambda: store.downgrade("base"),
            "upgrade": lambda: store.upgrade(),
        }}
        for name, attempt in tries.items():
            try:
                attempt()
                print(name, "did not raise")
            except Exception as e:
                print(name, "|", type(e).__name__, "|", str(e).replace(chr(10), " NEWLINE "))
        store.close()
        """
        lines = run_script(code).stdout.splitlines()
        assert len(lines) == 8, lines
        for line in lines:
            name, kind, text = line.split(" | ") if " | " in line else (line, "", "")
            assert kind == "StoreError", line
            assert text.startswith(f"store sqlite:///{path} is read-only:"), line
            assert "NEWLINE" not in text and "sqlalche.me" not in text and "[SQL" not in text
        for args in (
            ["forget", "ingest", "--all", "--yes"],
            ["forget", "ingest", "--arg", "day=3"],
            ["prune", "--older-than", "0s"],
            ["prune", "--older-than", "999d", "--vacuum"],
            ["db", "upgrade"],
            ["db", "downgrade", "base", "--yes"],
        ):
            proc = _cachework("--url", path, *args)
            assert proc.returncode == 1, (args, proc)
            assert proc.stdout == "", (args, proc.stdout)  # nothing said as if it worked
            assert proc.stderr.startswith(
                f"cachework: error: store sqlite:///{path} is read-only:"
            ), (
                args,
                proc.stderr,
            )
            assert proc.stderr.count("\n") == 1 and "[SQL" not in proc.stderr
        assert sorted(os.listdir(view)) == before


# -- the command is thin: "no such work" is the library's ------------------------------------
def test_forgetting_a_work_the_store_never_saw_is_no_such_work(filled, capsys):
    store = cachework.Store(filled)
    for attempt in (
        lambda: store.forget("ingset", day="2022-05-25"),
        lambda: store.forget("ingset", key="0" * 32),
        lambda: store.forget_all("ingset"),
        lambda: store.forget_calls([], work="ingset"),
    ):
        with pytest.raises(cachework.NoSuchWork, match="no work named 'ingset'"):
            attempt()
    # A known work with nothing to match is no error: nothing was removed.
    assert store.forget("ingest", day="1999-01-01") == 0
    assert store.forget_calls([], work="ingest") == 0

    @cachework.work(name="never_ran", store=filled)
    def never_ran(x: int) -> int:
        return x

    assert never_ran.forget(1) is False  # a work's own forget: nothing to remove
    err = error_line(capsys, ["--url", filled, "forget", "ingset", "--all", "--yes"])
    assert "no work named 'ingset'" in err and "nothing to forget" in err


# -- user SQL reaches the database as written ---------------------------------------------------
def test_sql_with_a_colon_or_a_percent_in_a_literal(filled):
    store = cachework.Store(filled)
    if store.dialect == "postgresql":
        by_json = "SELECT count(*) AS n FROM cachework_runs WHERE args @> '{\"n\":3}'"
    else:
        by_json = "SELECT count(*) AS n FROM cachework_runs WHERE json_extract(args, '$.n') = 3"
    assert store.query(by_json) == (["n"], [(1,)])
    like = "SELECT count(*) AS n FROM cachework_runs WHERE args LIKE '%2022-05-%'"
    if store.dialect == "postgresql":
        like = like.replace("args LIKE", "args::text LIKE")
    assert store.query(like) == (["n"], [(2,)])
    assert store.query("SELECT ':1' AS a, '%s' AS b, '%' AS c") == (
        ["a", "b", "c"],
        [(":1", "%s", "%")],
    )
    r = invoke(filled, "--json", "sql", by_json)
    assert r.exit_code == 0 and json.loads(r.output) == [{"n": 1}]
    # With values, :name still binds.
    assert store.query("SELECT :x AS x", {"x": 5}) == (["x"], [(5,)])


# -- every dialect behind Backend ---------------------------------------------------------------
def test_no_dialect_branch_outside_the_backends():
    """What differs between databases is spelled in ``_backends.py`` only (``_sql.py``
    compiles for a dialect it is given; ``schema.py`` declares the types): no other module
    imports a dialect, compares a dialect's name or writes a dialect's SQL function."""
    import ast
    import re
    from pathlib import Path

    sql = re.compile(r"\bpg_|jsonb|json_extract|json_each|advisory", re.IGNORECASE)
    package = Path(cachework.__file__).parent
    for name in ("_periodic.py", "_migrate.py", "_calendar.py", "_store.py", "_reports.py"):
        found = []
        for node in ast.walk(ast.parse((package / name).read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and "dialects" in (node.module or "")
                or isinstance(node, ast.Compare)
                and any(
                    isinstance(c, ast.Constant) and c.value in ("postgresql", "sqlite")
                    for c in [node.left, *node.comparators]
                )
            ):
                found.append(ast.unparse(node))
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and sql.search(node.value)
                and len(node.value) < 80
            ):
                found.append(node.value)
        assert found == [], (name, found)


def test_schedules_and_labels_through_the_backend(url):
    """The schedule's upsert and the period labels, on both dialects, through Backend."""
    import datetime as dt

    @cachework.work(name="daily", store=url, every="day", tz="UTC")
    def daily(period: cachework.Period) -> str:
        return period.label

    daily.run_for("2026-11-20")
    daily.run_for("2026-11-21")
    store = cachework.Store(url)
    (row,) = store.calendar(["daily"], since=dt.date(2026, 11, 20), until=dt.date(2026, 11, 21))
    assert (row.every, row.tz) == ("day", "UTC")
    assert row.cells == [("2026-11-20", "succeeded"), ("2026-11-21", "succeeded")]


WATCHED = """
import datetime as dt
import sys

import cachework
from cachework import _periods as periods

periods.clock = lambda: dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone.utc).timestamp()


class Ingest(cachework.Work):
    def run(self, period):
        return period.label

    def backfill(self, start, end=None, /, *args, **kwargs):
        print("through Work.backfill", start, end, sorted(kwargs), file=sys.stderr)
        return super().backfill(start, end, *args, **kwargs)


ingest = Ingest(name="ingest", every="day", tz="UTC")
"""


def test_backfill_goes_through_the_public_work_backfill(tmp_path):
    """The command is the library's ``work.backfill``: a work that overrides it is heard,
    and ``--url`` is the store of a work that names none."""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    (tmp_path / "watched.py").write_text(textwrap.dedent(WATCHED))
    here = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "CACHEWORK_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "cachework", "--url", "given.db", "backfill", "watched:ingest"]
        + ["--from", "2026-11-22", "--to", "2026-11-23", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": here},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "through Work.backfill 2026-11-22 2026-11-23 ['dry_run', 'progress']" in proc.stderr
    assert json.loads(proc.stdout)["ran"] == ["2026-11-22", "2026-11-23"]
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["given.db"]
    assert len(cachework.Store(str(tmp_path / "given.db")).history("ingest")) == 2
    cli_code = (Path(here) / "cachework" / "_cli.py").read_text()
    assert "._cw_" not in cli_code and "_period_range" not in cli_code
    assert "_periodic" not in cli_code


def test_every_error_of_the_command_is_one_form(filled, capsys, tmp_path):
    err = error_line(capsys, ["--url", filled, "show", "ingest", "--arg", "day=1999"])
    assert "no call of ingest matches day=1999" in err
    err = error_line(capsys, ["--url", filled, "forget", "ingest", "--status", "succeeded"])
    assert "2 calls match; add --yes" in err
    proc = _cachework("--url", filled, "backfill", "nosuchmodule:ingest", "--from", "2026-11-01")
    assert proc.returncode == 1
    assert proc.stderr.startswith("cachework: error: cannot import module 'nosuchmodule'")


# -- db current ---------------------------------------------------------------------------------
def test_db_current_says_none_for_an_empty_file_and_creates_none(tmp_path, sqlite_url):
    empty = tmp_path / "empty.db"
    empty.touch()
    r = invoke(str(empty), "db", "current")
    assert (r.exit_code, r.output) == (0, "none\n")
    assert empty.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    missing = tmp_path / "missing.db"
    r = invoke(str(missing), "db", "current")
    assert r.exit_code == 1 and "does not exist" in str(r.exception)
    assert not missing.exists()
    assert invoke(sqlite_url, "db", "upgrade").exit_code == 0
    assert invoke(sqlite_url, "db", "current").output.strip() == cachework._store.SCHEMA_REVISION
    # The other reading commands still say what is wrong with the empty file.
    r = invoke(str(empty), "works")
    assert r.exit_code == 1 and "has no cachework schema" in str(r.exception)


def test_db_current_says_none_for_a_server_database_without_the_schema(pg_url):
    r = invoke(pg_url, "db", "current")
    assert (r.exit_code, r.output) == (0, "none\n")


# -- one name for a row of cachework_calls -----------------------------------------------------
def test_a_row_of_cachework_calls_is_a_call_in_the_docs_and_messages(tmp_path):
    """ "Entry" was a second name for a call. What is left of the word elsewhere means other
    things: a dict's entry, re-entry, an old test's name or the old word quoted."""
    import re
    from pathlib import Path

    import cachework._work as work_module

    top = Path(cachework.__file__).parents[1]
    pages = [top / "README.md", *sorted((top / "docs").glob("*.md"))]
    word = re.compile(r"\bentr(y|ies)\b", re.IGNORECASE)
    other = re.compile(r"`[^`]*`|dict entry|re-entry|\"entry\"")
    found = [
        f"{page.name}: {line.strip()[:80]}"
        for page in pages
        for line in page.read_text().splitlines()
        if word.search(other.sub("", line))
    ]
    assert found == []
    assert not word.search(work_module.Work.__doc__ or "")
    source = Path(work_module.__file__).read_text()
    start = source.index('raise UnstorableResult(\n            f"{name}: {what}')
    assert not word.search(source[start : start + 300])


# -- docs/architecture.md: the layers as they are ---------------------------------------------
LAYERS = {
    1: {"_cli", "_output"},
    2: {"_work", "_options", "_code", "_parallel", "_periodic", "_calendar"},
    3: {"_store", "_claims", "_reports", "_heartbeat", "_backends", "_migrate", "_sql", "schema"},
    4: {
        "_keys",
        "_binding",
        "_pickling",
        "_pickled",
        "_periods",
        "_records",
        "_formats",
        "_urls",
        "_owner",
        "_filelock",
        "_errors",
        "_log",
        "_typing",
    },
}
#: The one run-time import that goes up, as docs/architecture.md says: the store's face
#: offers the calendar, which the works layer computes.
UPWARD = {("_reports", "_calendar")}


def _runtime_imports(path) -> set[str]:
    """The package's modules ``path`` imports when it runs (TYPE_CHECKING blocks aside)."""
    import ast

    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.level == 1:
                found.update([child.module] if child.module else [a.name for a in child.names])
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def test_imports_follow_the_layers_of_the_architecture_page():
    from pathlib import Path

    package = Path(cachework.__file__).parent
    layer = {m: n for n, modules in LAYERS.items() for m in modules}
    modules = {p.stem for p in package.glob("*.py")} - {"__init__", "__main__"}
    assert modules == set(layer), modules ^ set(layer)
    up = {
        (m, d)
        for m in modules
        for d in _runtime_imports(package / f"{m}.py")
        if d in layer and layer[d] < layer[m]
    }
    assert up == UPWARD
    page = (package.parent / "docs" / "architecture.md").read_text()
    assert "never up" not in page and "`Claims.is_fresh`: succeeded" not in page
    for modules in LAYERS.values():
        assert all(f"`{m}`" in page for m in modules)


# -- minor: one way each ------------------------------------------------------------------------
def test_store_result_loads_as_a_hit_does_and_says_what_is_missing(filled, monkeypatch):
    from cachework import _pickling

    store = cachework.Store(filled)
    (good,) = store.calls("ingest", day="2022-05-25")
    (bad,) = store.calls("ingest", day="bad")
    loaded: list[bytes] = []
    real = _pickling.loads
    monkeypatch.setattr(_pickling, "loads", lambda data: loaded.append(data) or real(data))
    assert store.result("ingest", good.key) == {"day": "2022-05-25"}
    assert len(loaded) == 1  # through the one module that unpickles
    with pytest.raises(cachework.NoSuchCall, match="has no stored result"):
        store.result("ingest", bad.key)
    with pytest.raises(cachework.NoSuchCall, match="no call of ingest has key"):
        store.result("ingest", "0" * 32)
    with pytest.raises(cachework.NoSuchWork):
        store.result("ingset", good.key)


def test_calendar_json_says_null_for_a_period_nothing_was_expected_of(sqlite_url):
    import datetime as dt

    @cachework.work(name="daily", store=sqlite_url, every="day", tz="UTC")
    def daily(period: cachework.Period) -> str:
        return period.label

    daily.run_for("2026-11-21")
    r = invoke(sqlite_url, "--json", "calendar", "--since", "2026-11-20", "--until", "2026-11-21")
    ((row),) = json.loads(r.output)
    assert row["periods"] == [
        {"period": "2026-11-20", "status": None},
        {"period": "2026-11-21", "status": "succeeded"},
    ]
    (lib,) = cachework.Store(sqlite_url).calendar(
        since=dt.date(2026, 11, 20), until=dt.date(2026, 11, 21)
    )
    assert lib.as_dict() == row


def test_the_docstrings_the_review_asked_for():
    from cachework._periods import Period

    assert cachework.BackfillReport.ok.__doc__
    assert cachework.CalendarRow.as_dict.__doc__
    source = Path(cachework.__file__).parent.joinpath("_periods.py").read_text()
    lines = source[source.index('__slots__ = ("label"') :].splitlines()
    for field in Period.__slots__:
        i = next(i for i, line in enumerate(lines) if line.startswith(f"    {field}: "))
        assert lines[i - 1].strip().startswith("#: "), field
    assert '"%Y-%m-%dT%H:%M:%S' not in source  # SQLite's time format has one spelling
