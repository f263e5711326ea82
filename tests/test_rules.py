"""Every job of every tier leaves a log of its stdout and stderr and a benchmark file (issue 17).

The rules are read from the parsed workflow (tests/cluster/inspect_workflow.py: Snakemake's API, no
DAG), so loop-made rules count and so do rules a tier would not schedule.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT, copy_workflow

INSPECT = ROOT / "tests" / "cluster" / "inspect_workflow.py"
TIERS = ["config/smoke.yaml", "config/config.yaml", "config/paper.yaml"]
# One CLI command, its stdout to the log and its stderr after it: no other redirect, pipe or `;`
# that would leave part of the job's output out of the log.
TO_LOG = re.compile(r"[^;&|<>]+ > \{log(?::q)?\} 2>&1")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("rules"))


def parsed(work, tier: str) -> dict:
    out = subprocess.run([sys.executable, str(INSPECT), str(work), tier], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def missing_log_or_benchmark(wf: dict) -> list[str]:
    """What each job-running rule lacks: a log at logs/<tier>/<rule>/, a benchmark at
    benchmarks/<tier>/<rule>/*.tsv (the directory benchmark/stage.py groups by), both redirects."""
    tier, problems = wf["tier"], []
    for r in wf["rules"]:
        name = r["rule"]
        if not r["runs"]:  # a pure target: `all` and the one-study targets run nothing
            if name not in {"all", *wf["studies"]}:
                problems.append(f"{name}: runs nothing but is not a target rule")
            continue
        if r["shell"] is None:
            problems.append(f"{name}: no shell command (a job is one `advcompress` command)")
            continue
        if len(r["log"]) != 1 or not r["log"][0].startswith(f"logs/{tier}/{name}/"):
            problems.append(f"{name}: log {r['log']} is not one file under logs/{tier}/{name}/")
        bench = r["benchmark"] or ""
        if not (bench.startswith(f"benchmarks/{tier}/{name}/") and bench.endswith(".tsv")):
            problems.append(f"{name}: benchmark {r['benchmark']!r} is not benchmarks/{tier}/{name}/*.tsv")
        if not TO_LOG.fullmatch(r["shell"].strip()):
            problems.append(f"{name}: shell does not end in `> {{log:q}} 2>&1`: ...{r['shell'][-60:]!r}")
    return problems


@pytest.mark.parametrize("tier", TIERS)
def test_every_job_logs_stdout_and_stderr_and_is_benchmarked(work, tier):
    wf = parsed(work, tier)
    running = [r for r in wf["rules"] if r["runs"]]
    assert len(running) > 30, f"{tier}: only {len(running)} rules parsed"
    problems = missing_log_or_benchmark(wf)
    assert not problems, f"{tier}:\n" + "\n".join(problems)


def test_the_check_names_what_a_rule_lacks():
    """The checker itself: a rule with `2> {log}`, one without a benchmark, a runless non-target."""
    ok = {"rule": "rd_table", "runs": True, "shell": "advcompress rd-table {input:q} > {log:q} 2>&1",
          "log": ["logs/t/rd_table/all.log"], "benchmark": "benchmarks/t/rd_table/all.tsv"}
    wf = {"tier": "t", "studies": ["foundation"], "rules": [
        ok,
        {"rule": "all", "runs": False, "shell": None, "log": [], "benchmark": None},
        {"rule": "foundation", "runs": False, "shell": None, "log": [], "benchmark": None},
        ok | {"rule": "a", "log": ["logs/t/a/x.log"], "benchmark": "benchmarks/t/a/x.tsv",
              "shell": "advcompress a 2> {log:q}"},
        ok | {"rule": "b", "log": ["logs/t/b/x.log"], "benchmark": None, "shell": "advcompress b > {log:q} 2>&1"},
        ok | {"rule": "c", "log": ["logs/t/c/x.log"], "benchmark": "benchmarks/t/rd_table/x.tsv",
              "shell": "advcompress c > {log:q} 2>&1"},
        ok | {"rule": "d", "log": ["logs/t/d/x.log"], "benchmark": "benchmarks/t/d/x.tsv",
              "shell": "advcompress d | tee x > {log:q} 2>&1"},
        {"rule": "e", "runs": False, "shell": None, "log": [], "benchmark": None},
    ]}
    assert [p.split(":")[0] for p in missing_log_or_benchmark(wf)] == ["a", "b", "c", "d", "e"]


def dag_jobs(dry_run: str) -> dict[tuple[str, str], dict | None]:
    """(rule, wildcards) -> the job's `--settings` (None without) of every job `snakemake -n -p` plans."""
    jobs = {}
    for block in dry_run.split("\n\n"):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if rule is None or rule.group(1) == "all":
            continue
        wildcards = re.search(r"^    wildcards: (.*)$", block, re.M)
        argv = shlex.split(re.search(r"^Shell command: (.*)$", block, re.M).group(1))
        settings = json.loads(argv[argv.index("--settings") + 1]) if "--settings" in argv else None
        jobs[rule.group(1), wildcards.group(1) if wildcards else ""] = settings
    return jobs


@pytest.mark.parametrize("tier", TIERS)
def test_the_plan_is_the_dag(work, tier):
    """advcompress.plan.jobs lists exactly the jobs Snakemake plans, each with the settings its rule
    passes, so tests/test_plan.py's facts about the plan are facts about the workflow.

    And planning imports neither torch nor CompressAI: every `snakemake` call builds the DAG, and
    importing the codecs made that ~5 s slower each time (the same dry run, under -X importtime)."""
    from advcompress import plan
    from advcompress.config import load_tier

    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "-p", "--forceall",
                           "--configfile", tier], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    heavy = re.findall(r"\|\s+(torch|compressai)$", proc.stderr, re.M)
    assert not heavy, f"planning {tier} imports {sorted(set(heavy))}"
    dag = dag_jobs(proc.stdout)
    planned = {k: json.loads(json.dumps(v)) for k, v in plan.jobs(load_tier(work / tier, root=work)).items()}
    assert sorted(set(dag) ^ set(planned)) == []
    assert [k for k in dag if dag[k] != planned[k]] == []
