"""advcompress.plan, called directly: what a config plans (targets, inputs, each job's settings),
with no Snakemake process. tests/test_rules.py checks that these jobs are exactly Snakemake's DAG."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from advcompress import plan
from advcompress.config import load_tier
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def default():
    return load_tier(ROOT / "config" / "config.yaml", root=ROOT)


def changed(cfg: dict, path: str, value) -> dict:
    """A copy of `cfg` with the key at the dotted `path` set to `value`."""
    out = copy.deepcopy(cfg)
    *parents, key = path.split(".")
    node = out
    for p in parents:
        node = node[p]
    node[key] = value
    return out


def rerun(before: dict, after: dict) -> dict[str, set[str]]:
    """Rule -> wildcards of the jobs whose settings differ between two configs' plans (or that only
    one of them plans)."""
    a, b = plan.jobs(before), plan.jobs(after)
    out: dict[str, set[str]] = {}
    for rule, wildcards in {*a, *b}:
        if a.get((rule, wildcards), "absent") != b.get((rule, wildcards), "absent"):
            out.setdefault(rule, set()).add(wildcards)
    return out


def test_the_default_config_plans_these_table2_inputs(default):
    """Table II reads the rows of every configured attack on every learned codec (attack.models: null)."""
    codecs = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018", "stf", "cai2022"]
    assert plan.attack.table2_inputs(default) == [f"results/attack/{a}/{m}/rows.csv"
                                                  for a in ("srda", "arda") for m in codecs]
    assert {w for r, w in plan.jobs(default) if r == "attack_table2"} == {""}


def test_changing_backdoor_lic_steps_changes_only_the_lic_training_jobs(default):
    steps = default["backdoor"]["lic"]["steps"]
    assert rerun(default, changed(default, "backdoor.lic.steps", steps + 1)) == {
        "backdoor_lic_train": {"model=bmshj2018-hyperprior, quality=1", "model=bmshj2018-hyperprior, quality=4"}}


def test_the_backdoor_sweeps_and_archs_each_change_only_the_jobs_that_read_them(default):
    """Tables 9 and 10 (epochs_sweep, lr_sweep) are default-tier runs of the main architecture; the
    other architectures are paper and smoke only (docs/backdoor.md). A sweep point's settings are one
    backdoor_train job's (its table reruns on its inputs); an architecture's width scale reaches only
    its clean classifier, and its lambdas only its backdoor runs."""
    jobs = rerun(default, changed(default, "backdoor.studies.lr_sweep", [0.002, 0.5]))
    assert jobs == {"backdoor_train": {"run=fc-gauss-lr0.2", "run=fc-gauss-lr0.5"}}  # table10 follows its inputs
    jobs = rerun(default, changed(default, "backdoor.studies.epochs_sweep", [1, 2]))
    assert jobs == {"backdoor_train": {"run=fc-gauss-e3"}}
    tables = {w for r, w in plan.jobs(default) if r == "backdoor_table"}
    assert {"backdoor_table=table9", "backdoor_table=table10"} <= tables
    assert "backdoor_table=table7" not in tables
    for sweep in ("epochs", "lr"):  # each table has the main run's row among the sweep's, as the paper's
        assert "results/checkpoints/backdoor/runs/fc-gauss.csv" in plan.backdoor.run_tables(default, sweep)
    assert {w for r, w in plan.jobs(default) if r == "backdoor_clean_classifier"} == {"bd_clean=clean"}

    paper = load_tier(ROOT / "config" / "paper.yaml", root=ROOT)
    planned = {w for r, w in plan.jobs(paper) if r in ("backdoor_table", "backdoor_figure")}
    assert {"backdoor_table=table7", "backdoor_figure=fig6b_asr_vs_jpeg.pdf",
            "backdoor_figure=fig7b_codec_transfer.pdf"} <= planned
    assert rerun(paper, changed(paper, "backdoor.classifier.scale", {"alexnet": 1.0, "vgg16": 0.5})) == {
        "backdoor_clean_classifier": {"bd_clean=clean-vgg16"}}
    vgg = {f"run={r}" for r, s in plan.backdoor.runs(paper).items() if s["arch"] == "vgg16"}
    lam = changed(paper, "backdoor.arch_lambdas", {"alexnet": [1.0, 0.0], "vgg16": [1.0, 0.0]})
    assert rerun(paper, lam) == {"backdoor_train": vgg}
    # the TrojanNN trigger is optimised on each architecture's clean network; the others are built once
    assert plan.backdoor.trigger_classifier(paper, "trojan-vgg16").endswith("classifier/clean-vgg16.pt")
    assert plan.backdoor.trigger_file(paper, "fc-logo-vgg16").endswith("triggers/logo.pt")


def test_changing_attack_epsilon_changes_every_attack_job_and_nothing_else(default):
    """docs/architecture.md, the path of one parameter: attack.epsilon reaches attack_run and attack_tau."""
    jobs = rerun(default, changed(default, "attack.epsilon", 2e-3))
    assert set(jobs) == {"attack_run", "attack_tau"}
    assert jobs["attack_run"] == {w for r, w in plan.jobs(default) if r == "attack_run"}


def test_the_l2_thresholds_change_only_the_l2_table_and_figure(default):
    jobs = rerun(default, changed(default, "classify.l2_thresholds", [0.1, 0.2]))
    assert jobs == {"classify_table": {"classify_table=l2"}, "classify_figure": {"classify_figure=l2"}}


def test_the_defense_adds_at_and_online_targets_without_changing_the_undefended_ones(default):
    def attack_runs(cfg):
        return {w: s for (r, w), s in plan.jobs(cfg).items() if r == "attack_run"}

    m = "bmshj2018-hyperprior"
    assert default["defense"]["models"] == [m]
    undefended = changed(default, "defense.models", ["mbt2018"])
    runs, other = attack_runs(default), attack_runs(undefended)
    derived = {w for w in runs if "@" in w or "+" in w}
    assert derived == {f"attack={a}, victim={c}" for a, c in
                       [*(("srda", f"{m}@at-{s}") for s in ("srda", "sra", "sda")), ("srda", f"{m}+online"),
                        ("srda", f"{m}@at-srda+online"), ("arda", f"{m}@at-srda"), ("arda", f"{m}+online")]}
    plain = {w: s for w, s in runs.items() if w not in derived}
    assert plain == {w: s for w, s in other.items() if "@" not in w and "+" not in w}
    assert len(plain) == 10 and not any("online" in s["codec"] for s in plain.values())

    at = plan.attack.victim(default, f"{m}@at-sda")
    assert at["checkpoints"] == {q: f"results/checkpoints/codecs/{m}@at-sda/q{q}.pt" for q in (1, 4, 8)}
    assert at["settings"] == plan.attack.victim(default, m)["settings"]
    online = plan.attack.victim(default, f"{m}+online")
    assert online["checkpoints"] == plan.attack.victim(default, m)["checkpoints"]
    assert online["settings"]["online"] == default["defense"]["online"]


@pytest.mark.parametrize("path, value, names", [
    ("attack.models", ["bmshj2018-hyperprior", "nope"], "attack.models lists 'nope'"),
    ("defense.models", ["nope"], "defense.models lists 'nope'"),
    ("backdoor.lic.models", ["nope"], "backdoor.lic.models lists 'nope'"),
    ("backdoor.studies.trigger_archs", ["vgg16"], "backdoor.studies.trigger_archs lists"),  # not in archs[1:]
    ("defense.at.main", "nope", "defense.at.main is 'nope'"),
])
def test_a_config_naming_an_unknown_codec_or_entry_fails_naming_the_key(default, path, value, names):
    bad = changed(default, path, value)
    for planning in (plan.targets, plan.jobs):
        with pytest.raises(ValueError, match=names.replace(".", r"\.")):
            planning(bad)


def test_an_attack_model_the_defense_derives_is_a_codec_to_attack(default):
    """attack.models may name a defended codec (attack.schema.yaml): planned, not an error."""
    cfg = changed(default, "attack.models", ["bmshj2018-hyperprior@at-sra"])
    assert ("attack_run", "attack=arda, victim=bmshj2018-hyperprior@at-sra") in plan.jobs(cfg)


def test_every_tier_plans_each_job_once_and_every_study_has_targets():
    for tier in ("smoke", "config", "paper"):
        cfg = load_tier(ROOT / "config" / f"{tier}.yaml", root=ROOT)
        targets = plan.targets(cfg)
        assert list(targets) == ["foundation", "attack", "defense", "classify", "backdoor", "claims"]
        assert all(targets.values()), tier
        files = [f for fs in targets.values() for f in fs]
        assert len(files) == len(set(files)), tier


def test_planning_imports_neither_torch_compressai_nor_snakemake():
    code = ("import sys\nfrom advcompress import plan\nfrom advcompress.config import load_tier\n"
            "plan.jobs(load_tier('config/paper.yaml'))\n"
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'compressai', 'snakemake'})\n"
            "sys.exit(f'planning imports {bad}' if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
