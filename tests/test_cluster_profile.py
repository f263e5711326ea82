"""The Slurm profile and the resources every rule declares (CI's stand-in for tests/cluster/)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, copy_workflow, snakemake

PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
INSPECT = ROOT / "tests" / "cluster" / "inspect_workflow.py"

# Which rules must ask for a GPU and which must not, by what their names say they do. Measuring by
# real coding (clean compression, evaluation) is entropy coding on the CPU plus one forward pass:
# such rules may choose either way. Every alternative names at least one real rule, and every rule
# that reaches Slurm matches GPU_WORK or MEASURING (test_name_patterns_match_the_real_rules...).
CPU_ONLY = re.compile(r"fetch|table|fig|^all$")
GPU_WORK = re.compile(r"train|attack|defen|backdoor|trigger|classify")
MEASURING = re.compile(r"clean|compress|eval")
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]


def inspect(work: Path, config: str) -> dict:
    out = subprocess.run([sys.executable, str(INSPECT), str(work), config],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def default_workflow(tmp_path_factory) -> dict:
    """Every rule of the default config's workflow, with its declared resources and report outputs."""
    work = copy_workflow(tmp_path_factory.mktemp("inspect"))
    return inspect(work, "config/config.yaml")


def gpu_of(rule: dict) -> int:
    res = rule["resources"].get("gpu")
    if res is None:
        return 0
    assert not res["callable"], f"{rule['rule']}: gpu should be a plain number"
    return int(res["value"])


def declared_rules() -> set[str]:
    """Rule names written as `rule <name>:` in the Snakefile and workflow/rules/*.smk (loop-made
    rules, `rule:` with a `name:`, are not in this list; the parsed workflow has them)."""
    return {m for f in RULE_FILES for m in re.findall(r"^\s*rule (\w+):", f.read_text(), re.M)}


def test_name_patterns_match_the_real_rules_and_the_profile(default_workflow):
    """The patterns, the rule names these tests rely on and the profile's per-rule settings are
    checked against the rules Snakemake parses from the workflow, not against names made up here."""
    rules = {r["rule"]: r for r in default_workflow["rules"]}
    profile = yaml.safe_load(PROFILE.read_text())
    assert len(declared_rules()) > 20
    unparsed = declared_rules() - set(rules)
    assert not unparsed, f"rules written in the rule files but absent from the parsed workflow: {unparsed}"
    dead = [f"{alt!r} of {p.pattern!r}" for p in (CPU_ONLY, GPU_WORK, MEASURING) for alt in p.pattern.split("|")
            if not any(re.search(alt, name) for name in rules)]
    assert not dead, f"pattern alternatives that match no rule of the workflow: {dead}"
    named = {"fetch_dataset", "rd_table", "rd_figure", "train_lic", "compress_clean", "defense_clean",
             *profile.get("set-resources", {})}
    assert named <= set(rules), f"named here or in the profile but not a rule: {named - set(rules)}"
    # The profile's header: fetches, tables and figures run on the submit host (localrules), so
    # per-rule Slurm resources for them would never be used.
    remote_cpu = [n for n, r in rules.items() if CPU_ONLY.search(n) and not r["local"]]
    assert not remote_cpu, f"fetch/table/figure rules that would be sbatch jobs: {remote_cpu}"
    local_set = [n for n in profile.get("set-resources", {}) if rules[n]["local"]]
    assert not local_set, f"set-resources for localrules, which never reach Slurm: {local_set}"
    # Every job that reaches Slurm is classified, so the GPU and memory tests below see all of them.
    unclassified = [n for n, r in rules.items() if not r["local"] and not (GPU_WORK.search(n) or MEASURING.search(n))]
    assert not unclassified, f"sbatch rules that neither GPU_WORK nor MEASURING names: {unclassified}"


def test_cpu_only_rules_ask_for_no_gpu(default_workflow):
    cpu = [r for r in default_workflow["rules"] if r["local"] or CPU_ONLY.search(r["rule"])]
    assert {"fetch_dataset", "rd_table", "rd_figure"} <= {r["rule"] for r in cpu}
    wrong = [r["rule"] for r in cpu if gpu_of(r)]
    assert not wrong, f"CPU-only rules (fetch, tables, figures, local rules) declare gpu: {wrong}"


def test_training_attack_defense_rules_declare_gpu_and_memory(default_workflow):
    gpu_rules = [r for r in default_workflow["rules"]
                 if GPU_WORK.search(r["rule"])
                 and not (r["local"] or CPU_ONLY.search(r["rule"]) or MEASURING.search(r["rule"]))]
    assert "train_lic" in {r["rule"] for r in gpu_rules}
    problems = []
    for r in gpu_rules:
        if gpu_of(r) != 1:
            problems.append(f"{r['rule']}: resources.gpu is {gpu_of(r)}, expected 1")
        if "mem_mb" not in r["resources"]:
            problems.append(f"{r['rule']}: no mem_mb (a cluster would give it the default)")
        if r["local"]:
            problems.append(f"{r['rule']}: is a localrule but needs a GPU node")
    assert not problems, "\n".join(problems)


def test_gpu_jobs_get_more_memory_when_retried(default_workflow):
    """A GPU job can run out of memory: its mem_mb grows with `attempt` and it may be retried."""
    problems = []
    for r in default_workflow["rules"]:
        if not gpu_of(r):
            continue
        mem = r["resources"].get("mem_mb", {})
        if not (mem.get("callable") and "attempt" in mem.get("params", [])):
            problems.append(f"{r['rule']}: mem_mb does not scale with attempt ({mem})")
        if r["retries"] < 1:
            problems.append(f"{r['rule']}: no retries")
    assert not problems, "\n".join(problems)


def test_attempt_scaled_memory_comes_with_retries(default_workflow):
    """Memory that grows with `attempt` is pointless unless the rule may be retried."""
    scaled = [r for r in default_workflow["rules"]
              if r["resources"].get("mem_mb", {}).get("callable")
              and "attempt" in r["resources"]["mem_mb"]["params"]]
    assert "train_lic" in {r["rule"] for r in scaled}
    assert not [r["rule"] for r in scaled if r["retries"] < 1]


def test_slurm_plugin_maps_gpu_rules_to_gpus(default_workflow):
    """The plugin's own mapping turns gpu=1 into --gpus=1 (and gpu_model into --gpus=<model>:1)."""
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        __getattr__ = dict.__getitem__

    class Job:
        def __init__(self, **res):
            self.resources = Resources(res)

    for r in default_workflow["rules"]:
        gpu = gpu_of(r)
        flags = set_gres_string(Job(**({"gpu": gpu} if gpu else {})))
        assert ("--gpus=1" in flags) == (gpu == 1), (r["rule"], flags)
    assert set_gres_string(Job(gpu=1, gpu_model="a100")).strip() == "--gpus=a100:1"


def test_profile_uses_the_plugin_resources_not_gres(default_workflow):
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["jobs"] >= 1 and profile["latency-wait"] >= 5
    assert profile["slurm-status-command"] in {"sacct", "squeue"}
    assert "runtime" in profile["default-resources"] and "mem_mb" in profile["default-resources"]
    assert "--gres" not in PROFILE.read_text().replace("never `--gres`", "").replace("Never put `--gres`", "")
    names = {r["rule"] for r in default_workflow["rules"]}
    unknown = set(profile.get("set-resources", {})) - names
    assert not unknown, f"set-resources names rules that do not exist: {unknown}"


def test_dry_run_against_the_slurm_profile(tmp_path):
    """The profile parses, the plugin loads, and per-rule resources reach the jobs."""
    work = copy_workflow(tmp_path)
    out = snakemake(work, "--workflow-profile", "profiles/slurm", "--configfile", "config/smoke.yaml",
                    "--dry-run").stdout
    assert "train_lic" in out and "compress_clean" in out
    profile = yaml.safe_load(PROFILE.read_text())
    runtime = profile["set-resources"]["train_lic"]["runtime"]
    train_blocks = re.findall(r"^rule train_lic:\n((?:    .*\n)+)", out, re.M)
    assert train_blocks and all(f"runtime={runtime}" in b and "gpu=1" in b for b in train_blocks)
