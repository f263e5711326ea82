"""Shared fixtures: small real images, and one real run of the smoke workflow reused by many tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# One torch thread in the test process, as the workflow's jobs run: on two cores, more threads only
# contend with the smoke run's parallel jobs and make tiny tensor operations slower.
torch.set_num_threads(1)
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "profiles", "envs", "pyproject.toml"]


def copy_workflow(dest: Path) -> Path:
    """A fresh copy of the workflow (no data, no results), as a clean clone would have."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake of this interpreter in `workdir`, returning its output."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


# A test that reads a whole workflow run is a `workflow` test. Under pytest-xdist (`-n 2`, see
# pyproject.toml) every test of one run goes to one worker, so each run happens once per session;
# the other tests go by module, so module-scoped fixtures are built once too.
WORKFLOW_RUNS = {"smoke_run": "smoke", "zoo_run": "zoo", "touched_default": "touched-default"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        run = next((group for fixture, group in WORKFLOW_RUNS.items() if fixture in item.fixturenames), None)
        if run is not None:
            item.add_marker(pytest.mark.workflow)
        item.add_marker(pytest.mark.xdist_group(run or item.module.__name__))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke config run end to end once, in a temporary copy of the workflow.

    Later studies' tests read its trained models and tables instead of retraining.
    """
    work = copy_workflow(tmp_path_factory.mktemp("smoke"))
    snakemake(work, "--configfile", "config/smoke.yaml")
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
