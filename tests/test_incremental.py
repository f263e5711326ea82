"""Incremental rebuilds: one changed parameter reruns only the jobs that depend on it, never training."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, snakemake

INSPECT = ROOT / "tests" / "cluster" / "inspect_workflow.py"
SMOKE = "config/smoke.yaml"
FOUNDATION = {"data.smk", "models.smk", "compress.smk"}


def scheduled(dry_run_output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of `snakemake -n` (empty when nothing to do)."""
    m = re.search(r"^Job stats:\n.*?\n-+\s+-+\n(.*?)^total\s+\d+", dry_run_output, re.M | re.S)
    if m is None:
        return {}
    rows = (line.split() for line in m.group(1).splitlines() if line.strip())
    return {name: int(count) for name, count in rows}


def test_scheduled_parses_job_stats():
    out = "Job stats:\njob          count\n---------  -------\nattack_run       3\nall              1\ntotal            4\n"
    assert scheduled(out) == {"attack_run": 3, "all": 1}
    assert scheduled("Nothing to be done (all requested files are present and up to date).") == {}


def pick_parameter(section: dict) -> tuple[str, object]:
    """One numeric setting to change: an iteration count if there is one, else the first number."""
    numbers = [(k, v) for k, v in section.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        raise AssertionError("the section has no numeric setting to change")
    for k, v in numbers:
        if isinstance(v, int) and re.search(r"step|iter", k):
            return k, v + 1
    k, v = numbers[0]
    return k, (v + 1 if isinstance(v, int) else v * 0.5)


@pytest.fixture()
def finished_copy(smoke_run, tmp_path) -> Path:
    """The finished smoke run copied with its metadata (.snakemake), so the shared one stays untouched."""
    work = tmp_path / "wf"
    shutil.copytree(smoke_run, work, symlinks=True)
    return work


def rule_files(work: Path) -> dict[str, str]:
    out = subprocess.run([sys.executable, str(INSPECT), str(work), SMOKE],
                         capture_output=True, text=True, check=True)
    return {r["rule"]: r["file"] for r in json.loads(out.stdout)["rules"]}


def test_one_changed_attack_setting_reruns_only_its_jobs(finished_copy):
    work = finished_copy
    unchanged = snakemake(work, "--configfile", SMOKE, "--dry-run").stdout
    assert scheduled(unchanged) == {}, f"a finished run should have nothing to do:\n{unchanged[-2000:]}"

    cfg_path = work / SMOKE
    cfg = yaml.safe_load(cfg_path.read_text())
    if "attack" in cfg and list((work / "workflow" / "rules").glob("attack*.smk")):
        key, value = pick_parameter(cfg["attack"])
        cfg["attack"][key] = value
        key = f"attack.{key}"
    else:  # no attack stage yet: change one classic codec's quality setting
        codec = next(iter(cfg["codecs"]["classic"]))
        cfg["codecs"]["classic"][codec][-1] += 1
        key = f"codecs.classic.{codec}"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    jobs = scheduled(snakemake(work, "--configfile", SMOKE, "--dry-run").stdout)
    jobs.pop("all", None)
    assert jobs, f"changing {key} scheduled nothing"
    assert "train_lic" not in jobs and not any(r.startswith("fetch") for r in jobs), jobs
    files = rule_files(work)
    if key.startswith("attack."):
        # The foundation (data, trained codecs, clean compression) reads no attack setting.
        foundation = {r: n for r, n in jobs.items() if files[r] in FOUNDATION}
        assert not foundation, f"changing {key} reruns foundation jobs: {foundation}"
        assert any(files[r].startswith("attack") for r in jobs), f"changing {key} reruns no attack job: {jobs}"
    else:
        assert jobs.get("compress_clean") == 1, jobs  # just the new quality point
