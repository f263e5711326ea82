"""Whole-workflow benchmark: the default config from a clean state, per stage and in total.

    .venv/bin/python benchmark/workflow.py [--configfile config/config.yaml] [--cores 2]
                                           [--studies attack] [--workdir DIR] [--targets ...]
                                           [--from-git REV]

Copies the workflow to a temporary directory (no data, no results: a clean clone), runs
`snakemake --cores N` there and prints
- per rule and per stage (one `.smk` file = one stage): jobs, summed job seconds and the largest
  max_rss from Snakemake's benchmark files (benchmarks/<tier>/<rule>/...), and the stage's span on
  the wall clock (first job start to last job end, from Snakemake's log);
- in total: wall time, and peak resident memory of the whole process tree (Snakemake plus its
  jobs, sampled every 0.5 s) next to the largest single job.
Then it runs each named study's own benchmark script (benchmark/<study>.py): by default the attack
study's `throughput` mode, which prints the batched-vs-looped attack throughput ratio, on the first
checkpoint the run trained; the other studies' scripts time their stage in a fresh copy of their own.
Target: the whole default config under 25 minutes on 2 cores. With --from-git REV it runs that
commit (workflow and library, the latter first on PYTHONPATH) instead of the working tree.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from advcompress.config import load_tier
from advcompress.plan import STUDIES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.memory import TreeMemory  # noqa: E402
from benchmark.rehearse_paper import copy_workflow  # noqa: E402
from benchmark.stage import job_table  # noqa: E402

TARGET_S = 25 * 60


def stage_of_rules(work: Path) -> dict[str, str]:
    """Rule name -> stage (the .smk file that defines it).

    Rules named in a loop (`name: ...`) are found by their name quoted in the file, and the
    one-study targets of the Snakefile by their study: its own stage file, compress.smk for the
    foundation (or, in revisions before advcompress.plan, the file that registered their outputs).
    """
    out = {}
    for smk in sorted((work / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        names = re.findall(r'^\s*rule (\w+):', text, re.M) + re.findall(r'study_targets\(\s*"(\w+)"', text)
        names += re.findall(r'^\s*\("(\w+)",', text, re.M)  # (name, ...) tuples a loop makes rules of
        names += [f"{s}_{what}" for what, s in re.findall(r'^(figure|table)_rule\(\s*"(\w+)"', text, re.M)]  # figure_rule.smk
        names += re.findall(r'^lic_\w*rule\(\s*"(\w+)"', text, re.M)  # the LIC backdoor's rules (lic_rule.smk)
        out.update({name: smk.stem for name in names})
    for study in STUDIES:
        out.setdefault(study, "compress" if study == "foundation" else study)
    return out


def job_spans(log_text: str) -> pd.DataFrame:
    """Start and end time of every job, from the timestamps Snakemake writes before each event."""
    stamp = r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]\n"
    starts = {m.group(3): (m.group(2), m.group(1)) for m in re.finditer(
        stamp + r"(?:local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)", log_text, re.M)}
    ends = {m.group(2): m.group(1) for m in re.finditer(stamp + r"Finished jobid: (\d+)", log_text, re.M)}

    def parse(s):
        return datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y")

    rows = [{"rule": rule, "start": parse(t0), "end": parse(ends[jid])}
            for jid, (rule, t0) in starts.items() if jid in ends]
    return pd.DataFrame(rows, columns=["rule", "start", "end"])


def summarise(work: Path, tier: str, log_text: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    stages = stage_of_rules(work)
    bench = job_table(work, tier, log_text=log_text)
    per_rule = bench.groupby("rule").agg(job_s=("s", "sum"), job_cpu_s=("cpu_s", "sum"),
                                         peak_rss_mib=("max_rss_mib", "max"))
    spans = job_spans(log_text)
    spans = spans[spans["rule"] != "all"]
    per_rule = spans.groupby("rule").size().rename("jobs").to_frame().join(per_rule, how="outer")
    per_rule["stage"] = [stages.get(r, "?") for r in per_rule.index]
    spans["stage"] = spans["rule"].map(lambda r: stages.get(r, "?"))
    span = spans.groupby("stage").agg(first_start=("start", "min"), last_end=("end", "max"))
    per_stage = per_rule.groupby("stage").agg(jobs=("jobs", "sum"), job_s=("job_s", "sum"), job_cpu_s=("job_cpu_s", "sum"),
                                              peak_rss_mib=("peak_rss_mib", "max"))
    per_stage["span_s"] = (pd.to_datetime(span["last_end"]) - pd.to_datetime(span["first_start"])).dt.total_seconds()
    return per_rule.reset_index().set_index(["stage", "rule"]).sort_index(), per_stage


def attack_args(work: Path, cfg: dict, configfile: str) -> list[str] | None:
    """benchmark/attack.py throughput on the first fixed-rate learned codec the run has trained."""
    if "attack" not in cfg:
        return None
    for model, spec in cfg["codecs"]["learned"].items():
        for q in spec["qualities"]:
            ckpt = work / cfg["results"] / "checkpoints" / "codecs" / model / f"q{q}.pt"
            if ckpt.exists():
                return ["throughput", "--model", model, "--quality", str(q), "--checkpoint", str(ckpt),
                        "--eval-dir", str(work / cfg["data_dir"] / "eval"), "--configfile", str(work / configfile)]
    return None


# How to call a study's benchmark script on the finished copy, for scripts that need more than --workdir.
STUDY_ARGS = {"attack": attack_args}


def run_study_benchmark(study: str, work: Path, cfg: dict, configfile: str) -> None:
    script = ROOT / "benchmark" / f"{study}.py"
    if not script.exists():
        print(f"\n== benchmark/{study}.py: not present, skipped")
        return
    args = ["--configfile", configfile]  # a stage script times its study in a fresh copy of its own
    if study in STUDY_ARGS:
        args = STUDY_ARGS[study](work, cfg, configfile)
        if args is None:
            print(f"\n== benchmark/{study}.py: nothing to run it on (no trained checkpoint or no {study} section)")
            return
    cmd = [sys.executable, str(script), *args]
    print(f"\n== {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    print(proc.stdout.rstrip())
    if proc.returncode != 0:
        print(f"(exit {proc.returncode})\n{proc.stderr[-3000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--cores", default="2")
    p.add_argument("--studies", nargs="*", default=["attack"], help="benchmark/<study>.py scripts to run after")
    p.add_argument("--workdir", type=Path, help="keep the workflow copy here (default: a temp dir, removed)")
    p.add_argument("--targets", nargs="*", default=[], help="only these targets (default: everything)")
    p.add_argument("--from-git", metavar="REV", help="benchmark this commit instead of the working tree")
    a = p.parse_args()

    base = a.workdir.resolve() if a.workdir else Path(tempfile.mkdtemp(prefix="advcompress-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if a.from_git:
        work = base / "wf"
        work.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", a.from_git], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(work / "src"), env.get("PYTHONPATH")]))
    else:
        work = copy_workflow(base / "wf")
    cfg = load_tier(work / a.configfile, root=work)
    cmd = [sys.executable, "-m", "snakemake", "--cores", a.cores, "--configfile", a.configfile, *a.targets]
    log_path = base / "snakemake.log"
    print(f"$ {' '.join(cmd)}  (in {work}, log {log_path})", flush=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)
        memory = TreeMemory(proc.pid)
        rc = proc.wait()
    wall = time.perf_counter() - t0
    peak_tree = memory.stop()
    log_text = log_path.read_text()
    if rc != 0:
        print(f"snakemake failed (exit {rc}) after {wall:.0f} s; numbers below cover the jobs that ran")
        print("\n".join(log_text.splitlines()[-30:]))
        if "Finished jobid" not in log_text:
            sys.exit(1)

    per_rule, per_stage = summarise(work, cfg["tier"], log_text)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print("\nper rule (job_s: summed wall seconds of its jobs, job_cpu_s: their CPU seconds, which a\n"
              "busy machine does not inflate; peak_rss_mib: largest job)")
        print(per_rule.to_string(float_format=lambda v: f"{v:.1f}"))
        print("\nper stage (span_s: first job start to last job end on the wall clock)")
        print(per_stage.to_string(float_format=lambda v: f"{v:.1f}"))
    verdict = "within" if wall <= TARGET_S else "OVER"
    print(f"\ntotal: wall {wall:.0f} s ({wall / 60:.1f} min) on {a.cores} cores, {verdict} the 25 min target; "
          f"peak RSS of the whole process tree {peak_tree:.0f} MiB, largest single job "
          f"{per_rule['peak_rss_mib'].max():.0f} MiB; {int(per_stage['jobs'].sum())} jobs; "
          f"{per_stage['job_cpu_s'].sum():.0f} CPU seconds in benchmarked jobs; load average during the run "
          f"{os.getloadavg()[0]:.1f} (1 min, at the end) on {os.cpu_count()} CPUs")

    for study in a.studies:
        run_study_benchmark(study, work, cfg, a.configfile)
    if a.workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(0 if rc == 0 else 1)


if __name__ == "__main__":
    main()
