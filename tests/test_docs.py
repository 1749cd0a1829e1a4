"""The docs site builds with ``mkdocs build --strict``, shows every public name and no
internal one, lists every page, and documents every option of the command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import cachework
from cachework._cli import cli

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = ROOT / "docs" / "cli.md"
#: Store methods of the claim protocol: used by works, never by users, so not in the reference.
INTERNALS = ("claim", "finish", "beat", "release", "lookup", "is_fresh")


def _mkdocs() -> None:
    pytest.importorskip(
        "mkdocs", reason="mkdocs is not installed: pip install -e '.[test]' (or '.[docs]')"
    )
    pytest.importorskip(
        "mkdocstrings", reason="mkdocstrings is not installed: pip install -e '.[docs]'"
    )
    pytest.importorskip(
        "material", reason="mkdocs-material is not installed: pip install -e '.[docs]'"
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once for this module with ``mkdocs build --strict``."""
    _mkdocs()
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def test_mkdocs_build_strict_passes(site):
    assert (site / "index.html").is_file() and (site / "api" / "index.html").is_file()


def test_the_reference_shows_every_public_name_and_no_internal_one(site):
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    shown = set(re.findall(r'id="cachework\.([\w.]+)"', html))
    public = {n for n in cachework.__all__ if n != "__version__"}
    assert public - shown == set(), "public names missing from docs/api.md"
    for name in INTERNALS:
        assert f"Store.{name}" not in shown and f"Work.{name}" not in shown
    for option in ("on_running", "wait_timeout", "lease", "executor", "max_result_bytes"):
        assert f"Work.{option}" in shown


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    yaml = pytest.importorskip("yaml", reason="PyYAML (a dependency of mkdocs) is not installed")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def files(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from files(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from files(value)

    nav = set(files(config["nav"]))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages - nav == set(), "pages under docs/ missing from mkdocs.yml's nav"
    generated = {n for n in nav if "/" in n}  # repository files the hook brings in
    assert all((ROOT / n).is_file() for n in generated)
    assert nav - pages - generated == set(), "nav entries with no page"


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def _section(text: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"docs/cli.md has no section '## {heading}'"
    return m.group(1)


def _mentions(section: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", section) is not None


def undocumented(text: str) -> list[str]:
    """Every option (and argument) of the command that its section of the page leaves out."""
    missing = []
    top = _section(text, "Options of every command")
    for param in cli.params:
        missing += [f"cachework {o}" for o in param.opts if not _mentions(top, o)]
    for path, command in _commands(cli):
        if isinstance(command, click.Group) and not command.params:
            continue  # `cachework db`: its subcommands have the sections
        name = "cachework " + " ".join(path)
        section = _section(text, name)
        for param in command.params:
            if isinstance(param, click.Argument):
                word = (param.metavar or param.name or "").upper()
                missing += [] if _mentions(section, word) else [f"{name} {word}"]
            else:
                missing += [f"{name} {o}" for o in param.opts if not _mentions(section, o)]
    return missing


def test_every_command_option_is_documented():
    assert undocumented(CLI_PAGE.read_text(encoding="utf-8")) == []


def test_an_undocumented_option_is_found():
    text = CLI_PAGE.read_text(encoding="utf-8")
    forget = _section(text, "cachework forget")
    assert undocumented(text.replace(forget, forget.replace("`--force`", "`--forcefully`"))) == [
        "cachework forget --force"
    ]


def test_the_readme_says_how_to_serve_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "mkdocs serve" in readme


def test_the_docs_say_how_to_run_the_command():
    """`cachework` is in the venv, not on PATH: the first pages say how to run it (the
    `python -m cachework` spelling is run by docs/index.md's own block)."""
    for page in (ROOT / "README.md", ROOT / "docs" / "index.md"):
        text = page.read_text(encoding="utf-8")
        for way in (".venv/bin/cachework", "source .venv/bin/activate", "python -m cachework"):
            assert way in text, f"{page.name} does not say {way}"


#: Quoted figures: a number with decimals and a unit (``7.89 µs``, ``1,816.9 µs``).
FIGURE = re.compile(r"(\d[\d,]*\.\d+) ?(?:µs|ms)")


def test_quoted_benchmark_figures_are_in_results_md():
    """Every precise figure the docs quote is one RESULTS.md recorded, not a recollection."""
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    pages = [ROOT / "docs" / "performance.md", ROOT / "docs" / "postgresql.md"]
    quoted = {(p.name, f) for p in pages for f in FIGURE.findall(p.read_text(encoding="utf-8"))}
    assert len(quoted) >= 10
    assert {(page, f) for page, f in quoted if f not in results} == set()


def test_the_readme_counts_the_sql_recipes_right():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sql = (ROOT / "docs" / "sql.md").read_text(encoding="utf-8")
    words = [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
    ]
    (said,) = re.findall(r"has every column and (\w+) recipes", readme)
    assert words.index(said) + 1 == len(re.findall(r"^### \d+\. ", sql, re.M))


def test_every_parameter_of_work_is_in_its_docstring():
    """A new option cannot go undescribed in ``help(cachework.Work)`` and the reference."""
    import inspect

    doc = cachework.Work.__doc__ or ""
    described = {
        name for name in inspect.signature(cachework.Work.__init__).parameters if name != "self"
    }
    missing = {name for name in described if f"\n        {name}: " not in doc}
    assert missing == set()
    work_doc = cachework.work.__doc__ or ""
    assert {n for n in described if f"``{n}``" not in work_doc} == set()
