"""MkDocs hook: repository files the pages link to (``../benchmarks/RESULTS.md``) join the site.

A page under docs/ links to a file elsewhere in the repository the way GitHub resolves it,
``../benchmarks/RESULTS.md``. MkDocs only knows files under docs/, so this hook adds each
such target to the site under its repository path and drops the ``../`` from the links:
the same Markdown reads right on GitHub and builds with ``--strict``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

# ](../path) or ](../path#anchor): a link from a page in docs/ to a file outside it.
OUTSIDE = re.compile(r"\]\(\.\./([^)#\s]+)(#[^)\s]*)?\)")


def _root(config: Any) -> Path:
    return Path(config["docs_dir"]).resolve().parent


def on_files(files: Files, config: Any) -> Files:
    root = _root(config)
    wanted: set[str] = set()
    for page in Path(config["docs_dir"]).glob("*.md"):
        wanted.update(m.group(1) for m in OUTSIDE.finditer(page.read_text(encoding="utf-8")))
    for rel in sorted(wanted):
        source = root / rel
        if source.is_file() and files.get_file_from_path(rel) is None:
            files.append(File.generated(config, rel, abs_src_path=str(source)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if "/" in page.file.src_uri:  # only pages at the top of docs/ link with one ../
        return markdown
    return OUTSIDE.sub(lambda m: f"]({m.group(1)}{m.group(2) or ''})", markdown)
