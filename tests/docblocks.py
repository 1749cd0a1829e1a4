"""The code blocks of README.md and docs/*.md, and how each kind runs.

Every fenced block of a page is one of:

- ``python``: run in order with the page's other Python blocks, in one namespace, so a
  block may use what an earlier one defined;
- ``sh`` (or ``bash``, ``console``): every line a ``cachework ...`` command (also spelt
  ``.venv/bin/cachework`` or ``python -m cachework``), run against a store; each must exit 0;
- ``sql``: first line ``-- sqlite``, ``-- postgresql`` or ``-- both`` (the dialects it is
  written for), each statement run read-only on a store of that dialect;
- anything else, or a block that cannot run where the tests run (an install, a crontab, a
  server's address), is marked on the line before it with ``<!-- not-tested: why -->``.

A block that is none of these fails the tests, so nothing is skipped silently.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PYTHON, SHELL, SQL = {"python", "py"}, {"sh", "bash", "shell", "console"}, {"sql"}
DIALECTS = ("sqlite", "postgresql", "both")

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
NOT_TESTED = re.compile(r"^\s*<!--\s*not-tested:\s*(?P<why>.*?)\s*-->\s*$")
# A command line of a shell block, and the argv it gives the command.
COMMAND = re.compile(
    r"^(?:(?P<module>(?:\S*/)?python3?\s+-m\s+cachework)|(?:\.venv/bin/)?cachework)(?:\s+|$)"
)


class Block(NamedTuple):
    """One fenced block: where it is, its language, its text, and why it is not run (if so)."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    not_tested: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}:{self.line}"


class BlockFailed(AssertionError):
    """A block that did not run as its page says it does."""


def pages() -> list[Path]:
    """Every page whose blocks the tests run."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with their not-tested marks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            # a block indented under a list item loses that indent, and no more
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
            i += 1
        i += 1  # the closing fence
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = NOT_TESTED.match(before)
        why = mark["why"] if mark else None
        if mark and not why:
            raise BlockFailed(f"{path}:{start + 1}: a not-tested mark must say why")
        found.append(Block(path, start + 1, m["info"].lower(), "\n".join(body) + "\n", why))
    return found


def check_runnable(block: Block) -> None:
    """Refuse a block that is neither marked not-tested nor of a kind the tests run."""
    if block.not_tested is not None:
        return
    if block.lang not in PYTHON | SHELL | SQL:
        raise BlockFailed(
            f"{block.where}: a {block.lang or 'plain'} block cannot run; mark it with "
            "<!-- not-tested: why --> on the line before"
        )
    if block.lang in SQL:
        sql_dialect(block)
    if block.lang in SHELL:
        list(commands(block))


def run_python(page_blocks: Iterable[Block], namespace: dict[str, Any] | None = None) -> int:
    """Run a page's Python blocks in order in one namespace; the number run."""
    ns: dict[str, Any] = namespace if namespace is not None else {"__name__": "docs_page"}
    n = 0
    for block in page_blocks:
        if block.lang not in PYTHON or block.not_tested is not None:
            continue
        code = compile(block.text, block.where, "exec")
        try:
            exec(code, ns)
        except BaseException as e:
            raise BlockFailed(
                f"{block.where}: the Python block raised\n{block.text}\n{traceback.format_exc()}"
            ) from e
        n += 1
    return n


def commands(block: Block) -> Iterable[tuple[bool, list[str]]]:
    """(through ``python -m``, argv) of each command line of a shell block."""
    text = block.text.replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = COMMAND.match(line)
        if not m:
            raise BlockFailed(
                f"{block.where}: {line!r} is not a cachework command; mark the block with "
                "<!-- not-tested: why --> on the line before"
            )
        # $NAME is the shell's: the environment the command runs in
        argv = shlex.split(os.path.expandvars(line[m.end() :]), comments=True)
        yield m["module"] is not None, argv


def run_shell(
    page_blocks: Iterable[Block], invoke: Callable[[list[str]], tuple[int, str]], cwd: Path
) -> int:
    """Run a page's shell commands in order; each must exit 0. ``invoke`` runs one command
    in this process (argv -> exit code, output); ``python -m cachework`` lines run in a new
    process, as written. The number run."""
    n = 0
    for block in page_blocks:
        if block.lang not in SHELL or block.not_tested is not None:
            continue
        for module, argv in commands(block):
            if module:
                proc = subprocess.run(
                    [sys.executable, "-m", "cachework", *argv],
                    capture_output=True,
                    text=True,
                    cwd=cwd,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                    timeout=120,
                )
                code, output = proc.returncode, proc.stdout + proc.stderr
            else:
                code, output = invoke(argv)
            if code != 0:
                raise BlockFailed(
                    f"{block.where}: `cachework {shlex.join(argv)}` exited {code}:\n{output}"
                )
            n += 1
    return n


def sql_dialect(block: Block) -> str:
    """The dialect a SQL block is written for, from its first line (``-- sqlite ...``)."""
    first = block.text.lstrip().splitlines()[0] if block.text.strip() else ""
    m = re.match(r"--\s*(\w+)", first)
    if not m or m[1] not in DIALECTS:
        raise BlockFailed(
            f"{block.where}: a SQL block starts with `-- sqlite`, `-- postgresql` or `-- both`"
        )
    return m[1]


def statements(block: Block) -> list[str]:
    """The statements of a SQL block (one ends with ``;`` at the end of a line)."""
    parts = re.split(r";\s*$", block.text, flags=re.M)
    out = []
    for part in parts:
        code = "\n".join(
            line for line in part.splitlines() if line.strip() and not line.strip().startswith("--")
        )
        if code.strip():
            out.append(part.strip())
    return out


def run_sql(page_blocks: Iterable[Block], query: Callable[[str], Any], dialect: str) -> int:
    """Run each statement of a page's SQL blocks written for ``dialect``; the number run."""
    n = 0
    for block in page_blocks:
        if block.lang not in SQL or block.not_tested is not None:
            continue
        if sql_dialect(block) not in (dialect, "both"):
            continue
        for statement in statements(block):
            try:
                query(statement)
            except Exception as e:
                raise BlockFailed(f"{block.where} ({dialect}): {statement}\n{e}") from e
            n += 1
    return n
