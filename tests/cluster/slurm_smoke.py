"""Run the smoke config through a real Slurm (one node on localhost) and check it against a local run.

    python tests/cluster/slurm_smoke.py [--from-git REV] [--local-run DIR] [--keep-cluster] [--workdir DIR]

1. `slurm_localhost.sh start`: munged, slurmctld and slurmd on localhost (installs slurm-wlm if missing).
2. A clean copy of the workflow runs `snakemake --workflow-profile profiles/slurm --configfile
   config/smoke.yaml`, with the two settings a cluster without accounting needs (status from squeue,
   a short first status check).
3. Checks: every non-local job Snakemake ran was submitted with sbatch, and Slurm's job-completion
   log (jobcomp/filetxt) lists each of those Slurm jobs as COMPLETED under this run's name; the
   tables under results/smoke/tables equal those of a local run column by column, except timing
   columns (`*_s`, `*_ms_*`), which measure the machine rather than the science. GPU-tagged rules'
   sbatch calls carry `--gpus` (the one-node cluster has a `gpu` GRES token, no device), the others not.
4. `slurm_localhost.sh stop` (unless --keep-cluster).

The local run goes side by side with the Slurm run. With --from-git REV both use that commit
(`git archive`), with --freeze a copy of the working tree taken at the start; either way its src/
comes first on PYTHONPATH, which every Slurm job inherits through `--export=ALL`: a stable
snapshot while the tree is being edited. Without either, both runs use the live working tree.

Exit status 0 when everything holds; the failing check is printed otherwise.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from benchmark.rehearse_paper import WORKFLOW_FILES  # noqa: E402

# Rules name their conda environment (envs/advcompress.yaml); Snakemake records it with each job.
COPIED = [*dict.fromkeys([*WORKFLOW_FILES, "envs"])]
from inspect_workflow import rule_resources  # noqa: E402

CLUSTER = HERE / "slurm_localhost.sh"
SMOKE = "config/smoke.yaml"


def copy_workflow(src: Path, dest: Path) -> Path:
    """A fresh copy of the workflow files of `src` (no data, no results), as a clean clone has."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if not (src / name).exists():
            continue
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src / name, dest / name)
    return dest


def tree_snapshot(dest: Path) -> Path:
    """The working tree's workflow files and library as they are now."""
    copy_workflow(ROOT, dest)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def git_snapshot(rev: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def cluster(action: str, env: dict) -> None:
    subprocess.run(["bash", str(CLUSTER), action], check=True, env=env)


def run_snakemake(workdir: Path, args: list[str], env: dict, log: Path) -> float:
    cmd = [sys.executable, "-m", "snakemake", "--configfile", SMOKE, *args]
    print("$", " ".join(cmd), f"(in {workdir}, log {log})", flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed ({proc.returncode}) after {elapsed:.0f} s; last lines of {log}:\n"
                 + "\n".join(log.read_text().splitlines()[-40:]))
    return elapsed


def executed_jobs(log_text: str) -> list[tuple[str, str]]:
    """(rule, snakemake jobid) of every job Snakemake finished, local or submitted."""
    return [(rule, jid) for jid, rule in re.findall(r"^Finished jobid: (\d+) \(Rule: (\w+)\)", log_text, re.M)]


def submissions(log_text: str) -> dict[str, tuple[str, str]]:
    """Snakemake jobid -> (Slurm jobid, rule), from the plugin's 'submitted with SLURM jobid' lines."""
    found = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/",
                       log_text)
    return {jid: (sid, rule) for jid, sid, rule in found}


def sbatch_calls(log_text: str) -> dict[str, str]:
    """Rule name -> one of its sbatch command lines (the plugin logs them at --verbose)."""
    return {m.group(2): m.group(1) for m in re.finditer(r"sbatch call: (.*--comment '?rule_(\w+?)(?:_wildcards_\S*)?'? .*)", log_text)}


def jobcomp_records(path: Path) -> dict[str, dict]:
    """Slurm jobid -> fields of its jobcomp/filetxt line (JobState, Name, Tres, ...)."""
    out = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            out[fields["JobId"]] = fields
    return out


# Columns that time the machine, not the science: a unit `s`/`ms`/`us` as one word of the name
# (encode_s, decode_s, defense_ms_per_image).
TIMING = re.compile(r"(?:^|_)(?:s|ms|us|seconds)(?:_|$)")


def compare_tables(a: Path, b: Path) -> list[str]:
    """Differences between two result trees' tables, ignoring timing columns."""
    import pandas as pd

    problems = []
    names_a = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    names_b = sorted(p.relative_to(b) for p in b.rglob("*.csv"))
    if names_a != names_b:
        problems.append(f"different table sets: {names_a} vs {names_b}")
    for name in set(names_a) & set(names_b):
        ta, tb = pd.read_csv(a / name), pd.read_csv(b / name)
        keep = [c for c in ta.columns if not TIMING.search(c)]
        try:
            pd.testing.assert_frame_equal(ta[keep], tb.reindex(columns=keep), check_exact=True)
        except AssertionError as e:
            problems.append(f"{name}: {e}")
    return problems


def check_slurm_run(slurm_dir: Path, text: str, jobcomp: Path) -> list[str]:
    """Every non-local job went through sbatch and COMPLETED in Slurm; --gpus exactly for GPU rules."""
    failures = []
    jobs = executed_jobs(text)
    subs = submissions(text)
    comp = jobcomp_records(jobcomp)
    run_id = re.search(r"SLURM run ID: (\S+)", text).group(1)
    rules = {r["rule"]: r for r in rule_resources(slurm_dir, slurm_dir / SMOKE)}
    remote = [(rule, jid) for rule, jid in jobs if not rules[rule]["local"]]
    print(f"{len(jobs)} jobs finished, {len(remote)} of them non-local; {len(subs)} submitted with sbatch; "
          f"{len(comp)} in Slurm's job-completion log", flush=True)
    if not remote:
        failures.append("no job ran on Slurm")
    for rule, jid in remote:
        if jid not in subs:
            failures.append(f"{rule} (job {jid}) was not submitted through sbatch")
            continue
        sid, sub_rule = subs[jid]
        rec = comp.get(sid)
        if sub_rule != rule:
            failures.append(f"job {jid} finished as {rule} but was submitted as {sub_rule}")
        if rec is None:
            failures.append(f"{rule}: Slurm job {sid} is missing from the job-completion log")
        elif rec.get("JobState") != "COMPLETED" or rec.get("Name") != run_id:
            failures.append(f"{rule}: Slurm job {sid} is {rec.get('JobState')} named {rec.get('Name')}")
    local_submitted = [jid for jid, (_, rule) in subs.items() if rules[rule]["local"]]
    if local_submitted:
        failures.append(f"local rules went to Slurm: {local_submitted}")
    calls = sbatch_calls(text)
    for rule in sorted({r for r, _ in remote}):
        call = calls.get(rule, "")
        wants_gpu = rules[rule]["resources"].get("gpu", {}).get("value", 0)
        if not call:
            failures.append(f"{rule}: no sbatch call in the log")
        elif bool(wants_gpu) != ("--gpus=" in call):
            failures.append(f"{rule}: declares gpu={wants_gpu} but its sbatch call is: {call}")
        n = sum(r == rule for r, _ in remote)
        print(f"  {rule}: {n} Slurm job(s), gpu={wants_gpu}, sbatch ... {'--gpus=' + str(wants_gpu) if wants_gpu else ''}",
              flush=True)
    return failures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--local-run", type=Path, help="a finished local smoke run to compare with (else one is made)")
    p.add_argument("--workdir", type=Path, help="where to put the workflow copies (default: a temp dir, removed)")
    p.add_argument("--from-git", metavar="REV", help="run this commit's workflow and library (default: the working tree)")
    p.add_argument("--freeze", action="store_true", help="run a copy of the working tree taken at the start")
    p.add_argument("--keep-cluster", action="store_true", help="leave the daemons running")
    p.add_argument("--check-only", action="store_true",
                   help="only check a finished --workdir (its slurm/, local/, slurm-run.log, jobcomp.log)")
    a = p.parse_args()
    if a.check_only:
        base = a.workdir.resolve()
        if (base / "source" / "src").is_dir():  # the snapshot's library parses the snapshot's rules
            sys.path.insert(0, str(base / "source" / "src"))
        failures = check_slurm_run(base / "slurm", (base / "slurm-run.log").read_text(), base / "jobcomp.log")
        failures += compare_tables(base / "local/results/smoke/tables", base / "slurm/results/smoke/tables")
        report(failures)
        return

    base = (a.workdir or Path(tempfile.mkdtemp(prefix="advcompress-slurm-run-"))).resolve()
    base.mkdir(parents=True, exist_ok=True)
    state = base / "slurm-state"
    env = {**os.environ, "ADV_SLURM_DIR": str(state), "SLURM_CONF": str(state / "slurm.conf"),
           "PYTHONWARNINGS": "ignore"}
    source = ROOT
    if a.from_git or a.freeze:
        source = git_snapshot(a.from_git, base / "source") if a.from_git else tree_snapshot(base / "source")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source / "src"), env.get("PYTHONPATH")]))
        sys.path.insert(0, str(source / "src"))  # for reading the snapshot's rules in this process
    failures: list[str] = []
    try:
        cluster("start", env)

        local, local_run = a.local_run, None
        if local is None:  # side by side with the Slurm run
            local = copy_workflow(source, base / "local")
            local_run = ThreadPoolExecutor(1).submit(
                run_snakemake, local, ["--cores", "2"], env, base / "local-run.log")
        slurm_dir = copy_workflow(source, base / "slurm")
        log = base / "slurm-run.log"
        elapsed = run_snakemake(
            slurm_dir,
            ["--workflow-profile", "profiles/slurm", "--slurm-status-command", "squeue",
             "--slurm-init-seconds-before-status-checks", "5", "--slurm-keep-successful-logs",
             "--verbose"],
            env, log,
        )
        print(f"Slurm run: {elapsed:.0f} s", flush=True)
        shutil.copy2(state / "jobcomp.log", base / "jobcomp.log")  # `stop` deletes the state dir
        failures += check_slurm_run(slurm_dir, log.read_text(), base / "jobcomp.log")

        if local_run is not None:
            print(f"local run: {local_run.result():.0f} s", flush=True)
        failures += compare_tables(local / "results/smoke/tables", slurm_dir / "results/smoke/tables")
    except RuntimeError as e:
        failures.append(str(e))
    finally:
        if not a.keep_cluster:
            cluster("stop", env)
        if a.workdir is None and not failures:
            shutil.rmtree(base, ignore_errors=True)

    report(failures)


def report(failures: list[str]) -> None:
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("OK: every job went through sbatch and completed in Slurm; tables equal the local run's")


if __name__ == "__main__":
    main()
