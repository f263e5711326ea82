"""The one runner behind every study's stage benchmark (benchmark/<study>.py stage scripts).

    .venv/bin/python benchmark/<study>.py [--configfile config/config.yaml] [--cores 2] [--workdir DIR]

Each run is a clean clone's: a fresh copy of the workflow (no data, no results) in a temporary
directory, or in DIR (kept afterwards) with --workdir. What the study reads from earlier stages
is built first and not timed; then Snakemake builds the study's own target (the rule of that name,
`snakemake <study>`: its tables and figures) and that call alone is timed. The per-job figures
come from the Snakemake benchmark files written during the timed call: per rule, jobs, summed
wall and CPU seconds (one thread a job, so on idle cores the wall time is about the CPU time over
the cores) and the peak resident memory of the largest job.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from advcompress.config import load_tier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.rehearse_paper import copy_workflow, dry_run_jobs  # noqa: E402  (a clean clone's files, envs included; a run log read as a dry run)


@dataclass(frozen=True)
class Stage:
    """A study as its benchmark sees it: the target rule, what to build untimed first, its ceiling."""

    study: str  # the one-study target rule of the Snakefile
    ceiling_s: float  # the ceiling for this stage on 2 cores
    upstream_rules: tuple[str, ...] = ("fetch_dataset", "train_lic")  # their jobs are built untimed
    prerequisites: Callable[[dict], list[str]] = field(default=lambda cfg: [])  # more files, untimed
    report: Callable[[Path, dict], str] = field(default=lambda work, cfg: "")  # printed after the figures


def snakemake(work: Path, configfile: str, cores: int, targets: list[str], *options: str, label: str = "") -> str:
    """Snakemake's log; with a label, its progress lines go to stderr as they come.

    Targets go after `--`, since --configfile takes any number of values.
    """
    args = [*options, "--", *targets]
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", configfile, *args]
    lines = []
    with subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append(line)
            if label and re.match(r"\d+ of \d+ steps", line):
                print(f"  {label}: {line.strip()}", file=sys.stderr, flush=True)
    log = "".join(lines)
    if proc.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed (exit {proc.returncode}) in {work}:\n{log[-6000:]}")
    return log


def planned_outputs(log: str, rules: tuple[str, ...]) -> list[str]:
    """Output files of the jobs of `rules` in a dry run's log.

    Used instead of `--until`, which stalls on train_lic jobs that warm-start from another.
    """
    jobs = re.finditer(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    output: (.*)$", log, re.M)
    return sorted({f for m in jobs if m.group(1) in rules for f in m.group(2).split(", ")})


def server_costs(work: Path, tier: str, log_text: str) -> dict[str, dict]:
    """Benchmark file (relative to `work`) -> the job server's cost line of that job.

    Snakemake's benchmark of a job the server forks measures its thin client (~0.1 CPU s, 16 MiB);
    the job's own CPU seconds and peak RSS are in the server's log. A cost line belongs to the job
    of Snakemake's log whose output is on its command line; a command also names its inputs, so
    of several such jobs it is the one none of whose outputs the others read.
    """
    from advcompress.commands.serve import job_costs

    server_log = work / "logs" / tier / "job_server.log"
    if not server_log.exists():
        return {}
    jobs = [tuple(set(fields.get(key, [])) for key in ("benchmark", "input", "output"))
            for _, fields, _ in dry_run_jobs(log_text)]
    out = {}
    for cost in job_costs(server_log.read_text()):
        named = [j for j in jobs if j[0] and j[2] & set(cost["argv"])]
        own = [j for j in named if not any(j[2] & k[1] for k in named if k is not j)]
        if len(own) == 1:
            out[next(iter(own[0][0]))] = cost
    return out


def job_table(work: Path, tier: str, since: float = 0.0, log_text: str = "") -> pd.DataFrame:
    """One row per job from Snakemake's benchmark files (those written after `since`, epoch s):
    rule, job, wall s, CPU s, peak RSS; CPU and RSS from the job server's log for the jobs it ran
    (`server_costs`, given Snakemake's log)."""
    costs = server_costs(work, tier, log_text) if log_text else {}
    rows = []
    for tsv in sorted((work / "benchmarks" / tier).glob("*/*.tsv")):
        if tsv.stat().st_mtime < since:
            continue
        b = pd.read_csv(tsv, sep="\t")
        row = {"rule": tsv.parent.name, "job": tsv.stem, "s": float(b["s"].iloc[0]),
               "cpu_s": float(b["cpu_time"].iloc[0]) if "cpu_time" in b else float("nan"),
               "max_rss_mib": float(b["max_rss"].iloc[0])}
        served = costs.get(tsv.relative_to(work).as_posix())
        if served is not None:
            row |= {"cpu_s": served["cpu_s"], "max_rss_mib": served["rss_mib"]}
        rows.append(row)
    return pd.DataFrame(rows, columns=["rule", "job", "s", "cpu_s", "max_rss_mib"])


def per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    return jobs.groupby("rule").agg(jobs=("s", "size"), seconds=("s", "sum"), cpu_seconds=("cpu_s", "sum"),
                                    peak_rss_mib=("max_rss_mib", "max"))


def summary(stage: Stage, tier: str, cores: int, wall: float, jobs: pd.DataFrame) -> str:
    verdict = "within" if wall <= stage.ceiling_s else "OVER"
    peak = jobs["max_rss_mib"].max() if len(jobs) else float("nan")
    return (f"{stage.study} stage ({tier} tier): wall {wall:.1f} s ({wall / 60:.1f} min) on {cores} cores, "
            f"{verdict} the {stage.ceiling_s / 60:.0f}-minute ceiling; {len(jobs)} benchmarked jobs, summed job "
            f"wall {jobs['s'].sum():.1f} s, CPU {jobs['cpu_s'].sum():.1f} s; peak job memory {peak:.0f} MiB")


def run(stage: Stage, doc: str, argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--workdir", type=Path, help="make the fresh copy here and keep it (default: a temp dir)")
    a = p.parse_args(argv)
    if a.workdir and a.workdir.exists() and any(a.workdir.iterdir()):
        p.error(f"--workdir {a.workdir} is not empty: the stage is timed in a fresh copy of the workflow")
    base = a.workdir or Path(tempfile.mkdtemp(prefix=f"advcompress-{stage.study}-"))
    try:
        work = copy_workflow(base)
        cfg = load_tier(work / a.configfile, root=work)
        t0 = time.perf_counter()
        pre = stage.prerequisites(cfg)
        if stage.upstream_rules:
            plan = snakemake(work, a.configfile, a.cores, [stage.study], "--dry-run")
            pre = planned_outputs(plan, stage.upstream_rules) + pre
        if pre:
            snakemake(work, a.configfile, a.cores, pre, label="prerequisites")
        if pre:
            print(f"prerequisites ({len(pre)} files from earlier stages): {time.perf_counter() - t0:.1f} s, "
                  "not counted", flush=True)
        started, t0 = time.time(), time.perf_counter()
        log = snakemake(work, a.configfile, a.cores, [stage.study], label=f"{stage.study} (timed)")
        wall = time.perf_counter() - t0
        jobs = job_table(work, cfg["tier"], since=started, log_text=log)
        print(per_rule(jobs).to_string(float_format=lambda v: f"{v:.1f}"))
        print(summary(stage, cfg["tier"], a.cores, wall, jobs))
        print(stage.report(work, cfg), end="")
    finally:
        if a.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
