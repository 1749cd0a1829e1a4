"""Restarts: a new process gets the results and the state back, and the right names."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import run_script

import cachework

PIPELINE = """
import os, sys, cachework

class DataProcessor(cachework.Work):
    def run(self, day):
        with open(os.environ["OUT"], "a") as f:
            f.write(f"process {day}\\n")
        self.data = f"/data/{day}.parquet"
        return len(day)

class TrainModel(cachework.Work):
    def run(self, data):
        with open(os.environ["OUT"], "a") as f:
            f.write(f"train {data}\\n")
        self.model = data + ".model"
        return self.model

data_processor = DataProcessor(name="processor")
train_model = TrainModel(name="trainer")
n = data_processor.run(sys.argv[1])
model = train_model.run(data_processor.data)
print(n, data_processor.data, model, train_model.model, data_processor.status)
"""


def test_a_new_process_gets_result_and_state_back(tmp_path, url):
    script = tmp_path / "pipeline.py"
    script.write_text(PIPELINE)
    out = tmp_path / "executions.txt"
    env = {"OUT": str(out), "CACHEWORK_URL": url}

    def start(day):
        return subprocess.run(
            [sys.executable, str(script), day],
            env={**_env(), **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    first = start("2022-05-25")
    second = start("2022-05-25")
    assert (
        first
        == second
        == [
            "10",
            "/data/2022-05-25.parquet",
            "/data/2022-05-25.parquet.model",
            "/data/2022-05-25.parquet.model",
            "succeeded",
        ]
    )
    start("2022-05-26")
    assert out.read_text().splitlines() == [
        "process 2022-05-25",
        "train /data/2022-05-25.parquet",
        "process 2022-05-26",
        "train /data/2022-05-26.parquet",
    ]


def _env():
    import os

    return dict(os.environ)


def test_renamed_class_result_is_a_miss_with_a_warning(tmp_path, sqlite_url):
    (tmp_path / "things.py").write_text(
        "class Thing:\n    def __init__(self, v):\n        self.v = v\n"
    )
    code = f"""
    import sys, warnings
    sys.path.insert(0, {str(tmp_path)!r})
    import cachework, things
    warnings.simplefilter("always")
    @cachework.work(name="things", store={sqlite_url!r})
    def make(v):
        print("RAN")
        return things.Thing(v) if hasattr(things, "Thing") else things.Renamed(v)
    print(type(make(1)).__name__)
    """
    assert run_script(code).stdout.split() == ["RAN", "Thing"]
    assert run_script(code).stdout.split() == ["Thing"]
    (tmp_path / "things.py").write_text(
        "class Renamed:\n    def __init__(self, v):\n        self.v = v\n"
    )
    proc = run_script(code)
    assert proc.stdout.split() == ["RAN", "Renamed"]
    assert "no longer loads" in proc.stderr


def test_default_names_for_scripts_and_dash_c(tmp_path):
    script = tmp_path / "nightly_job.py"
    script.write_text(
        textwrap.dedent("""
        import cachework
        class Step(cachework.Work):
            def run(self):
                return 1
        @cachework.work
        def task():
            return 2
        print(Step().name, task.name)
    """)
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["nightly_job.Step", "nightly_job.task"]
    out = run_script("""
        import cachework
        class Step(cachework.Work):
            def run(self):
                return 1
        print(Step().name)
    """)
    assert out.stdout.split() == ["__main__.Step"]
    assert cachework.work(lambda: 1).name.endswith("<lambda>")
