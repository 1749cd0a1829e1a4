"""What docs/why.md promises of the log: the reason a call runs at INFO, its arguments
beside the key at DEBUG on a miss, and nothing more than the key on a hit."""

from __future__ import annotations

import logging

import cachework


def test_a_run_logs_its_reason_and_its_arguments_at_debug(url, caplog):
    @cachework.work(name="ingest", store=url)
    def ingest(day: str, n: int = 1) -> int:
        return len(day) * n

    key = ingest.key("2022-05-25")
    with caplog.at_level(logging.DEBUG, logger="cachework"):
        ingest("2022-05-25")
        ingest("2022-05-25")  # a hit
        ingest.forget("2022-05-25")
        ingest("2022-05-25")
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "cachework"]
    assert ("INFO", f"running ingest [{key}]: new") in lines
    assert ("DEBUG", f'ingest [{key}] args: {{"day":"2022-05-25","n":1}}') in lines
    assert ("DEBUG", f"hit ingest [{key}]") in lines
    assert ("INFO", f"running ingest [{key}]: forgotten") in lines
    # the arguments are logged once per run, never for the hit between them
    assert sum("args:" in message for _, message in lines) == 2


def test_no_arguments_are_logged_above_debug(sqlite_url, caplog):
    @cachework.work(name="quiet", store=sqlite_url)
    def quiet(secret: str) -> int:
        return len(secret)

    with caplog.at_level(logging.INFO, logger="cachework"):
        quiet("hunter2")
    assert caplog.records and not any("hunter2" in r.getMessage() for r in caplog.records)
