"""One-study targets of the Snakefile and the stage benchmarks built on them (benchmark/stage.py)."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time

import pandas as pd
import pytest

from advcompress.config import load_tier
from tests.conftest import ROOT

STUDIES = ("foundation", "attack", "defense", "classify", "backdoor")
sys.path.insert(0, str(ROOT))
stage = importlib.import_module("benchmark.stage")


def dry_run(configfile: str, *targets: str) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", configfile, "--", *targets]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def planned_rules(out: str) -> set[str]:
    return set(re.findall(r"^(\w+)\s+\d+$", out, re.M)) - {"total"}


def test_a_study_target_plans_only_that_study_and_what_it_reads():
    rules = planned_rules(dry_run("config/smoke.yaml", "attack"))
    assert {"attack", "attack_run", "attack_table2", "train_lic"} <= rules
    assert not {r for r in rules if r.startswith(("backdoor", "classify", "defense", "rd_"))}
    rules = planned_rules(dry_run("config/smoke.yaml", "backdoor"))
    assert {"backdoor", "backdoor_lic_train", "backdoor_train"} <= rules
    assert not {r for r in rules if r.startswith(("attack", "classify", "defense"))}


def test_every_stage_benchmark_names_targets_the_default_config_can_build():
    """The scripts' targets and untimed prerequisites are all in the default config's DAG."""
    cfg = load_tier(root=ROOT)
    stages = [importlib.import_module(f"benchmark.{s}").STAGE for s in STUDIES if s != "attack"]
    assert sorted(s.study for s in stages) == sorted(set(STUDIES) - {"attack"})
    files = [f for s in stages for f in s.prerequisites(cfg)]
    assert files  # the defense stage reads the undefended codecs' attack rows
    rules = planned_rules(dry_run("config/config.yaml", *STUDIES, *files))
    assert set(STUDIES) <= rules


def test_only_jobs_of_the_timed_call_are_counted(tmp_path):
    bench = tmp_path / "benchmarks" / "default"
    for rule, age in (("train_lic", 100), ("attack_run", 0)):
        (bench / rule).mkdir(parents=True)
        tsv = bench / rule / "m_q1.tsv"
        tsv.write_text("s\th:m:s\tmax_rss\tcpu_time\n12.5\t0:00:12\t900.0\t11.0\n")
        os.utime(tsv, (time.time() - age, time.time() - age))
    jobs = stage.job_table(tmp_path, "default", since=time.time() - 50)
    assert list(jobs["rule"]) == ["attack_run"]
    table = stage.per_rule(jobs)
    assert table.loc["attack_run"].tolist() == [1, 12.5, 11.0, 900.0]


def test_jobs_the_server_ran_take_cpu_and_memory_from_its_log(tmp_path):
    """A served job's benchmark file measures only its client; the server's cost line, matched by
    an output path, has the job's CPU and RSS, also when a later command names that output as its
    input (a warm start). A job the server did not run keeps its own figures."""
    bench = tmp_path / "benchmarks" / "default"
    for rule, job in (("train_lic", "m_q1"), ("train_lic", "m_q4"), ("fetch_dataset", "train")):
        (bench / rule).mkdir(parents=True, exist_ok=True)
        (bench / rule / f"{job}.tsv").write_text("s\th:m:s\tmax_rss\tcpu_time\n300.0\t0:05:00\t16.0\t0.1\n")
    (tmp_path / "logs" / "default").mkdir(parents=True)

    def line(n, cpu, rss, argv):  # the server's cost-line format (its reader is tested in test_job_server.py)
        return f"advcompress job server: job {n} done: exit 0, 1.00 s wall, {cpu:.2f} s CPU, {rss} MiB peak RSS: {' '.join(argv)}\n"

    (tmp_path / "logs" / "default" / "job_server.log").write_text(
        line(1, 250.0, 700, ["train-lic", "--train-dir", "data/train", "--out", "results/m/q1.pt"])
        + line(2, 80.0, 710, ["train-lic", "--train-dir", "data/train", "--out", "results/m/q4.pt",
                              "--init", "results/m/q1.pt"]))
    log = ("localrule fetch_dataset:\n    output: data/train\n    jobid: 2\n"
           "    benchmark: benchmarks/default/fetch_dataset/train.tsv\n"
           "localrule train_lic:\n    input: data/train\n    output: results/m/q1.pt, results/m/q1.json\n"
           "    jobid: 3\n    benchmark: benchmarks/default/train_lic/m_q1.tsv\n"
           "localrule train_lic:\n    input: data/train, results/m/q1.pt\n    output: results/m/q4.pt, results/m/q4.json\n"
           "    jobid: 4\n    benchmark: benchmarks/default/train_lic/m_q4.tsv\n")
    jobs = stage.job_table(tmp_path, "default", log_text=log).set_index("job")
    assert jobs.loc["m_q1", ["s", "cpu_s", "max_rss_mib"]].tolist() == [300.0, 250.0, 700.0]
    assert jobs.loc["m_q4", ["cpu_s", "max_rss_mib"]].tolist() == [80.0, 710.0]
    assert jobs.loc["train", ["cpu_s", "max_rss_mib"]].tolist() == [0.1, 16.0]  # not served
    assert stage.job_table(tmp_path, "default").set_index("job").loc["m_q1", "cpu_s"] == 0.1  # no log given


def test_summary_says_whether_the_stage_is_within_its_ceiling():
    jobs = pd.DataFrame({"s": [100.0], "cpu_s": [90.0], "max_rss_mib": [512.0]})
    s = stage.Stage("attack", ceiling_s=360)
    assert "within the 6-minute ceiling" in stage.summary(s, "default", 2, 200.0, jobs)
    assert "OVER the 6-minute ceiling" in stage.summary(s, "default", 2, 400.0, jobs)


def test_a_non_empty_workdir_is_refused(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    with pytest.raises(SystemExit):
        stage.run(stage.Stage("attack", ceiling_s=1), "doc", ["--workdir", str(tmp_path)])
    assert "not empty" in capsys.readouterr().err


def test_prerequisites_are_the_outputs_of_the_upstream_jobs_of_a_dry_run():
    log = (
        "[Mon Nov 30 06:05:42 2026]\nlocalrule fetch_dataset:\n    output: data/default/train\n    jobid: 3\n\n"
        "[Mon Nov 30 06:05:42 2026]\nrule train_lic:\n    input: data/default/train, results/checkpoints/codecs/m/q1.pt\n"
        "    output: results/checkpoints/codecs/m/q4.pt, results/checkpoints/codecs/m/q4.json\n    jobid: 5\n\n"
        "[Mon Nov 30 06:05:42 2026]\nrule backdoor_lic_train:\n    output: results/checkpoints/backdoor/lic/m/q4.pt\n    jobid: 7\n"
    )
    assert stage.planned_outputs(log, ("fetch_dataset", "train_lic")) == [
        "data/default/train", "results/checkpoints/codecs/m/q4.json", "results/checkpoints/codecs/m/q4.pt"]
