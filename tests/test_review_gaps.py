"""What a review of the one-job-per-module and docs issues found still wrong: columns that
share a name in ``cachework sql``, writes on a read-only store, user SQL that SQLAlchemy
would parse, the command's own decisions and error forms, ``db current`` on an empty file."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

import cachework
from cachework._cli import cli


def invoke(url: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--url", url, *args])


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
