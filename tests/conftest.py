"""Shared fixtures: small real images, and one real run of the smoke workflow reused by many tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock

# copy_workflow: a fresh copy of the workflow (no data, no results), as a clean clone would have;
# one definition with its file list, importable by the benchmark scripts without pytest
from benchmark.rehearse_paper import WORKFLOW_FILES, copy_workflow  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

# One torch thread in the test process, as the workflow's jobs run: on two cores, more threads only
# contend with the smoke run's parallel jobs and make tiny tensor operations slower.
torch.set_num_threads(1)


def read_markdown(md: str):
    """The cells of a pipe table as a DataFrame of stripped strings: the tables' content, whatever
    padding and alignment the Markdown writer chose."""
    import pandas as pd

    lines = [ln.strip() for ln in md.splitlines() if ln.strip()]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    assert all(set(c) <= set(":-") and c for c in cells[1]), f"no header rule: {lines[1]!r}"
    return pd.DataFrame(cells[2:], columns=cells[0])


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake of this interpreter in `workdir`, returning its output."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def resolved(cfg: dict, tmp_path: Path) -> dict:
    """`cfg` (a whole config, or an overlay of the default) as `--configfile` resolves it, in this
    process: what the Snakefile validates and plans (`advcompress.plan.targets` raises on what the
    schemas cannot see, as at parse time; tests/test_errors.py checks that Snakemake prints it)."""
    import yaml

    from advcompress.config import load_tier

    path = tmp_path / "resolved-input.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return load_tier(path, root=ROOT)


def failing_job(argv: list[str], capsys, caplog) -> tuple[int, list[str]]:
    """Run one `advcompress` command that must fail in this process (`cli.run`, what a job's own
    process or the job server runs), saving a fresh interpreter's imports: its exit status and the
    lines its process would write to stderr (printed lines, then every log record; pytest keeps the
    records from reaching stderr here)."""
    import logging

    from advcompress.cli import run

    capsys.readouterr()
    caplog.clear()
    caplog.set_level(logging.INFO)  # the level cli.run gives a job's process
    with pytest.raises(SystemExit) as exit_:
        run(argv)
    lines = capsys.readouterr().err.splitlines()
    return exit_.value.code, lines + [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records]


def run_planned_jobs(workdir: Path, *args: str) -> list[str]:
    """Run the jobs `snakemake -n` plans for `args`, in its order, each through the command line its
    rule gives, in this process: one torch import for a DAG of small jobs instead of one per job
    (an import costs more than a two-step training). What runs and with which arguments is
    Snakemake's plan; only the process boundary, logs and benchmarks differ, which the smoke run
    checks. Returns the commands run."""
    import re
    import shlex

    from advcompress.cli import main

    plan = snakemake(workdir, "-n", "-p", *args).stdout
    commands = re.findall(r"^Shell command: (.*)$", plan, re.M)
    assert commands, plan[-3000:]
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        for command in commands:
            argv = shlex.split(command)
            argv = argv[: argv.index(">")] if ">" in argv else argv
            assert argv[0] == "advcompress", command
            main(argv[1:])
    finally:
        os.chdir(cwd)
    return commands


# A test that reads a whole workflow run (the smoke run, the zoo run, the touched default DAG) is a
# `workflow` test. Tests run on two pytest-xdist workers, a file at a time (pyproject.toml): the
# smoke run is built once, by whichever worker needs it first, and shared through a lock; the
# first file that needs it goes first so that the other worker runs the unit tests meanwhile.
WORKFLOW_RUNS = ("smoke_run", "zoo_run", "touched_default")
FIRST = "test_attack.py"  # needs the smoke run


def pytest_collection_modifyitems(config, items):
    smoke_files = set()
    for item in items:
        if any(run in item.fixturenames for run in WORKFLOW_RUNS):
            item.add_marker(pytest.mark.workflow)
        if "smoke_run" in item.fixturenames:
            smoke_files.add(item.path.name)

    def order(item):
        name = item.path.name
        return 0 if name == FIRST else 2 if name in smoke_files else 1

    items.sort(key=order)  # stable: the order inside a file is kept


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke config run end to end once per session, in a temporary copy of the workflow.

    Later studies' tests read its trained models and tables instead of retraining. Under xdist the
    workers share one run: the first builds it under a lock; a failed build fails the others fast.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    work, done, failed = shared / "smoke", shared / "smoke.done", shared / "smoke.failed"
    with FileLock(str(shared / "smoke.lock")):
        if failed.exists():
            pytest.fail(f"the smoke run failed on another worker:\n{failed.read_text()}")
        if not done.exists():
            shutil.rmtree(work, ignore_errors=True)
            try:
                snakemake(copy_workflow(work), "--configfile", "config/smoke.yaml")
            except AssertionError as e:
                failed.write_text(str(e))
                raise
            done.touch()
    return work


@pytest.fixture(scope="session")
def photos() -> list[torch.Tensor]:
    """Two real 64x64 photographs (scikit-image's bundled data)."""
    import numpy as np
    import skimage
    from PIL import Image

    from advcompress.data import SKIMAGE_PHOTOS, resize_and_crop

    out = []
    for name in ["astronaut", "coffee"]:
        with Image.open(Path(skimage.__file__).parent / "data" / SKIMAGE_PHOTOS[name]) as img:
            img = resize_and_crop(img.convert("RGB"), 64, 64)
            arr = np.asarray(img, dtype=np.float32) / 255
        out.append(torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0))
    return out
