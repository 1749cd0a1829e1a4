"""Every code block of README.md and docs/*.md runs (tests/docblocks.py says how), so no
snippet can rot. The SQL blocks run in tests/test_sql_recipes.py, on its filled store."""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path

import docblocks
import pytest
from click.testing import CliRunner

from cachework._cli import cli

PAGES = docblocks.pages()
ALL = {page: docblocks.blocks(page) for page in PAGES}


def _with(kinds: set[str]) -> list[Path]:
    return [p for p, bs in ALL.items() if any(b.lang in kinds and not b.not_tested for b in bs)]


def _id(page: Path) -> str:
    return str(page.relative_to(docblocks.ROOT))


#: At most this many blocks are marked not-tested; raise it only for a block that truly
#: cannot run here (an install, a crontab, a server's address), never to quiet a failure.
MOST_NOT_TESTED = 20


def test_every_block_runs_or_is_marked_not_tested():
    untested = []
    for page_blocks in ALL.values():
        for block in page_blocks:
            docblocks.check_runnable(block)
            if block.not_tested is not None:
                untested.append(f"{block.where} ({block.lang or 'plain'}): {block.not_tested}")
    ran = sum(len(bs) for bs in ALL.values()) - len(untested)
    print(f"\n{ran} blocks run, {len(untested)} not tested:\n" + "\n".join(untested))
    assert ran >= 40
    assert len(untested) <= MOST_NOT_TESTED, "\n".join(untested)


@pytest.fixture
def _logging_as_it_was():
    """A page may configure logging (docs/why.md turns the cachework logger to DEBUG):
    put it back, so no other test runs with a page's settings."""
    root, ours = logging.getLogger(), logging.getLogger("cachework")
    handlers, levels = list(root.handlers), (root.level, ours.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


@pytest.mark.parametrize("page", _with(docblocks.PYTHON), ids=_id)
def test_python_blocks(page, tmp_path, _logging_as_it_was):
    """A page's Python blocks, in order, in one namespace, in an empty folder (a fresh
    ./cachework.db: the conftest's fixture unsets CACHEWORK_URL and changes folder)."""
    assert docblocks.run_python(ALL[page]) > 0


@pytest.fixture
def doc_store(filled, tmp_path, monkeypatch):
    """The store the shell blocks talk about (both dialects): ``ingest`` (days 2022-05-25 and
    2022-05-26, one failure: the conftest's ``filled``), and ``daily``, a daily work of the
    module ``pipeline`` in the current folder (for ``backfill pipeline:daily``), run for
    two days of November 2026."""
    (tmp_path / "pipeline.py").write_text(
        textwrap.dedent(
            """
            import cachework

            @cachework.work(name="daily", every="day", tz="UTC", lag=1)
            def daily(period: cachework.Period) -> str:
                return period.label
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pipeline", raising=False)
    monkeypatch.setenv("CACHEWORK_URL", filled)
    import pipeline

    for day in ("2026-11-02", "2026-11-03"):
        pipeline.daily.run_for(day)
    yield filled
    sys.modules.pop("pipeline", None)


@pytest.mark.parametrize("page", _with(docblocks.SHELL), ids=_id)
def test_shell_blocks(page, doc_store, tmp_path):
    runner = CliRunner(env={"CACHEWORK_URL": doc_store})

    def invoke(argv):
        r = runner.invoke(cli, argv, input="")
        return r.exit_code, r.output + (repr(r.exception) if r.exception else "")

    assert docblocks.run_shell(ALL[page], invoke, tmp_path) > 0


# -- the collector itself fails on a broken block --------------------------------------------
BROKEN = """\
# A page

```python
x = 1
```

Some text.

```python
assert x == 2, "x is not 2"
```
"""


def _page(tmp_path, text):
    page = tmp_path / "page.md"
    page.write_text(text)
    return docblocks.blocks(page)


def test_a_python_block_that_raises_fails_naming_its_line(tmp_path):
    page = _page(tmp_path, BROKEN)
    with pytest.raises(docblocks.BlockFailed, match=r"page.md:9: the Python block raised"):
        docblocks.run_python(page)
    # the blocks share one namespace: the first defined x for the second
    fixed = _page(tmp_path, BROKEN.replace("x == 2", "x == 1"))
    assert docblocks.run_python(fixed) == 2


def test_an_unmarked_block_that_cannot_run_fails(tmp_path):
    (cron,) = _page(tmp_path, "```cron\n* * * * * true\n```\n")
    with pytest.raises(docblocks.BlockFailed, match="mark it with <!-- not-tested"):
        docblocks.check_runnable(cron)
    (marked,) = _page(tmp_path, "<!-- not-tested: a crontab -->\n\n```cron\n* * * * * true\n```\n")
    assert marked.not_tested == "a crontab"
    docblocks.check_runnable(marked)
    with pytest.raises(docblocks.BlockFailed, match="must say why"):
        _page(tmp_path, "<!-- not-tested: -->\n```cron\nx\n```\n")


def test_a_shell_line_that_is_not_a_cachework_command_fails(tmp_path):
    (block,) = _page(tmp_path, "```sh\ncachework works\nrm -rf build\n```\n")
    with pytest.raises(docblocks.BlockFailed, match="'rm -rf build' is not a cachework command"):
        docblocks.check_runnable(block)


def test_a_command_that_fails_fails_the_block(tmp_path, sqlite_url):
    runner = CliRunner(env={"CACHEWORK_URL": sqlite_url})

    def invoke(argv):
        r = runner.invoke(cli, argv)
        return r.exit_code, r.output

    good = _page(tmp_path, "```sh\ncachework db upgrade   # once\ncachework works\n```\n")
    assert docblocks.run_shell(good, invoke, tmp_path) == 2
    bad = _page(tmp_path, "```sh\ncachework history --no-such-option\n```\n")
    with pytest.raises(docblocks.BlockFailed, match="exited 2"):
        docblocks.run_shell(bad, invoke, tmp_path)


def test_python_dash_m_cachework_runs_in_a_new_process(tmp_path, sqlite_url):
    page = _page(tmp_path, f"```sh\npython -m cachework --url {sqlite_url} db upgrade\n```\n")
    assert docblocks.run_shell(page, lambda argv: (1, "not in-process"), tmp_path) == 1
    bad = _page(tmp_path, "```sh\npython -m cachework nosuchcommand\n```\n")
    with pytest.raises(docblocks.BlockFailed, match="exited 2"):
        docblocks.run_shell(bad, lambda argv: (0, ""), tmp_path)


def test_sql_blocks_need_their_dialect_and_fail_on_a_bad_statement(tmp_path):
    (bare,) = _page(tmp_path, "```sql\nSELECT 1;\n```\n")
    with pytest.raises(docblocks.BlockFailed, match="starts with `-- sqlite`"):
        docblocks.check_runnable(bare)
    page = _page(
        tmp_path,
        "```sql\n-- sqlite\nSELECT 1;\nSELECT 2;\n```\n```sql\n-- postgresql\nSELECT nope(;\n```\n",
    )
    seen = []
    assert docblocks.run_sql(page, seen.append, "sqlite") == 2
    assert seen == ["-- sqlite\nSELECT 1", "SELECT 2"]

    def query(sql):
        raise RuntimeError("syntax error")

    with pytest.raises(docblocks.BlockFailed, match=r"page.md:6 \(postgresql\)"):
        docblocks.run_sql(page, query, "postgresql")
