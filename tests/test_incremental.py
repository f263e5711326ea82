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

from advcompress.config import load_tier
from tests.conftest import ROOT, snakemake

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
    """(That the finished run has nothing to do is tests/test_workflow.py's test_rerun_has_nothing_to_do.)"""
    work = finished_copy
    cfg_path = work / SMOKE
    cfg = yaml.safe_load(cfg_path.read_text())
    key, value = pick_parameter(cfg["attack"])
    cfg["attack"][key] = value
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    jobs = scheduled(snakemake(work, "--configfile", SMOKE, "--dry-run").stdout)
    jobs.pop("all", None)
    assert jobs, f"changing attack.{key} scheduled nothing"
    assert "train_lic" not in jobs and not any(r.startswith("fetch") for r in jobs), jobs
    files = rule_files(work)
    # The foundation (data, trained codecs, clean compression) reads no attack setting.
    foundation = {r: n for r, n in jobs.items() if files[r] in FOUNDATION}
    assert not foundation, f"changing attack.{key} reruns foundation jobs: {foundation}"
    assert any(files[r].startswith("attack") for r in jobs), f"changing attack.{key} reruns no attack job: {jobs}"


# -- every study on the default config (issue 16) ---------------------------------------------------
#
# A finished default run takes an hour, so these tests mark the default workflow finished without
# running a job: every output of its DAG is created empty and `snakemake --touch --forceall` records
# each job's params, inputs and code as a real run would. A dry run after one config change then
# schedules exactly what a real finished run would rerun (params, inputs and mtimes; no job reads
# the empty files: a dry run only plans).

DEFAULT = "config/config.yaml"


def _is_output_of(path: str, pattern: str) -> bool:
    """Does `path` match a rule's output pattern ({wildcard,constraint} matches anything)?"""
    parts = re.split(r"\{[^{}]*\}", pattern)
    return re.fullmatch(".+".join(re.escape(p) for p in parts), path) is not None


@pytest.fixture(scope="module")
def touched_default(tmp_path_factory) -> Path:
    from tests.conftest import copy_workflow

    work = copy_workflow(tmp_path_factory.mktemp("touched") / "wf")
    summary = snakemake(work, "--configfile", DEFAULT, "--summary").stdout
    rows = [line.split("\t") for line in summary.splitlines()[1:] if "\t" in line]
    out = subprocess.run([sys.executable, str(INSPECT), str(work), DEFAULT], capture_output=True, text=True,
                         check=True)
    directories = {r["rule"]: r["directories"] for r in json.loads(out.stdout)["rules"]}
    assert rows, summary[-2000:]
    for path, _, rule, *_ in rows:
        p = work / path
        if any(_is_output_of(path, d) for d in directories.get(rule, [])):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
    snakemake(work, "--configfile", DEFAULT, "--touch", "--forceall")
    return work


@pytest.fixture()
def default_copy(touched_default, tmp_path) -> Path:
    work = tmp_path / "wf"
    shutil.copytree(touched_default, work, symlinks=True)
    return work


def rerun_after(work: Path, section: str, path: list[str], value) -> dict[str, int]:
    """Jobs `snakemake -n` schedules on the default config after setting config[section][path...]."""
    jobs = scheduled(dry_run_after(work, section, path, value))
    jobs.pop("all", None)
    return jobs


def dry_run_after(work: Path, section: str, path: list[str], value) -> str:
    """The output of `snakemake -n` on the default config after setting config[section][path...]."""
    cfg_path = work / DEFAULT
    cfg = yaml.safe_load(cfg_path.read_text())
    node = cfg[section]
    for k in path[:-1]:
        node = node[k]
    assert path[-1] in node, f"{section}.{'.'.join(path)} is not in {DEFAULT}"
    assert node[path[-1]] != value
    node[path[-1]] = value
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return snakemake(work, "--configfile", DEFAULT, "--dry-run").stdout


def wildcards_of(dry_run_output: str, rule: str, pattern: str) -> set[tuple[str, ...]]:
    """The `pattern` groups of the wildcards line of every `rule` job a dry run schedules."""
    blocks = [b for b in dry_run_output.split("\nrule ") if b.startswith(f"{rule}:")]
    found = {re.search(rf"wildcards: {pattern}", b) for b in blocks}
    assert None not in found, f"a {rule} job without its wildcards"
    return {m.groups() for m in found}


def attacked(dry_run_output: str) -> set[tuple[str, str]]:
    """(attack, model) of every attack_run job a dry run schedules."""
    return wildcards_of(dry_run_output, "attack_run", r"attack=([^,\s]+), victim=(\S+)")


def lic_report_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, entry) of every backdoor figure and table job a dry run schedules; the LIC backdoor's
    entries are named lic_*."""
    return {(rule, entry) for rule in ("backdoor_figure", "backdoor_table")
            for (entry,) in wildcards_of(dry_run_output, rule, rf"{rule}=(\S+)")}


def test_touched_default_run_has_nothing_to_do(default_copy):
    out = snakemake(default_copy, "--configfile", DEFAULT, "--dry-run").stdout
    assert scheduled(out) == {}, out[-2000:]


def _default_config() -> dict:
    return load_tier(root=ROOT)


@pytest.mark.parametrize("key,trains", [("steps", True), ("ds_images", False)])
def test_one_lic_backdoor_key_reruns_only_the_lic_backdoor(default_copy, key, trains):
    """backdoor.lic.steps retrains the backdoored encoders and redoes what follows; an evaluation key
    (ds_images) redoes the evaluation only. The classifier backdoor and the rest are left alone."""
    lic = _default_config()["backdoor"]["lic"]
    points = sum(len(lic["qualities"] or _default_config()["codecs"]["learned"][m]["qualities"])
                 for m in lic["models"])
    out = dry_run_after(default_copy, "backdoor", ["lic", key], lic[key] + 1)
    jobs = scheduled(out)
    jobs.pop("all", None)
    assert jobs.get("backdoor_lic_eval") == points, jobs
    assert jobs.get("backdoor_lic_train", 0) == (points if trains else 0), jobs
    reports = lic_report_jobs(out)
    assert {entry for _, entry in reports} == {"lic_table2", "lic_table3", "lic_table5", "lic_table6",
                                                 "lic_fig4_bpp_attack.pdf", "lic_fig5_psnr_attack.pdf",
                                                 "lic_fig6_example.png", "lic_fig10_for_good.pdf"}, reports
    assert "backdoor_lic_seg_train" not in jobs and "backdoor_lic_seg_eval" not in jobs, jobs  # its own keys
    others = {r: n for r, n in jobs.items()
              if not r.startswith("backdoor_lic_") and r not in ("claims_table", "backdoor_figure", "backdoor_table")}
    assert not others, f"changing backdoor.lic.{key} reruns jobs that do not read it: {others}"


@pytest.mark.parametrize("key,trains", [("steps", True), ("test_mosaics", False)])
def test_one_segmentation_key_reruns_only_the_segmentation_stand_in(default_copy, key, trains):
    """backdoor.lic.seg.steps retrains the segmentation encoder and redoes its evaluation and Table 1;
    test_mosaics redoes the evaluation only. The main LIC encoders and their tables are left alone."""
    seg = _default_config()["backdoor"]["lic"]["seg"]
    out = dry_run_after(default_copy, "backdoor", ["lic", "seg", key], seg[key] + 1)
    jobs = scheduled(out)
    jobs.pop("all", None)
    assert jobs.pop("backdoor_lic_seg_eval") == len(seg["qualities"]), jobs
    assert jobs.pop("backdoor_lic_seg_train", 0) == (len(seg["qualities"]) if trains else 0), jobs
    assert {entry for _, entry in lic_report_jobs(out)} == {"lic_table1"}
    assert set(jobs) <= {"backdoor_table", "claims_table"}, jobs


@pytest.mark.parametrize("path,value", [(["lambda1"], 0.5), (["triggers", "logo", "amplitude"], 0.25)])
def test_one_classifier_backdoor_key_reruns_no_lic_job(default_copy, path, value):
    """A key of the compression-resistant classifier backdoor reruns only the runs that read it: no
    LIC training or evaluation, no clean classifier; a trigger's key rebuilds that trigger alone."""
    bd = _default_config()["backdoor"]
    out = dry_run_after(default_copy, "backdoor", path, value)
    jobs = scheduled(out)
    jobs.pop("all", None)
    assert jobs.get("backdoor_train"), jobs
    lic = {r: n for r, n in jobs.items() if r.startswith("backdoor_lic_")}
    lic_reports = {entry for _, entry in lic_report_jobs(out) if entry.startswith("lic_")}
    assert not lic and not lic_reports, f"changing backdoor.{'.'.join(path)} reruns LIC backdoor jobs: {lic} {lic_reports}"
    assert "backdoor_clean_classifier" not in jobs, jobs
    others = {r: n for r, n in jobs.items() if not r.startswith("backdoor_") and r != "claims_table"}
    assert not others, others
    if path[0] == "triggers":
        from advcompress.backdoor.runs import plan_runs

        assert jobs.get("backdoor_trigger") == 1, jobs
        using = [r for r, spec in plan_runs(bd).items() if spec["trigger"] == path[1]]
        assert jobs["backdoor_train"] == len(using), jobs
    else:
        assert "backdoor_trigger" not in jobs, jobs


def test_a_sweep_point_reruns_its_run_and_its_table_alone(default_copy):
    """Table 10's lr_sweep: a new point is one backdoor_train job and the table that reads it; the
    other points, the clean network, the triggers and every other table stay."""
    out = dry_run_after(default_copy, "backdoor", ["studies", "lr_sweep"], [0.002, 0.5])
    jobs = scheduled(out)
    jobs.pop("all", None)
    assert jobs == {"backdoor_train": 1, "backdoor_table": 1}, jobs
    assert wildcards_of(out, "backdoor_train", r"run=(\S+)") == {("fc-gauss-lr0.5",)}
    assert lic_report_jobs(out) == {("backdoor_table", "table10")}


def test_one_classify_key_reruns_only_the_jobs_that_read_it(default_copy):
    """classify.attacks.fgsm.through: the through-defense FGSM evaluations rerun, not the FGSM
    images made without the defense (classify_adv does not read `through`), nor any other study."""
    cls = _default_config()["classify"]
    jobs = rerun_after(default_copy, "classify", ["attacks", "fgsm", "through"], [True])
    assert jobs.get("classify_attack") == len(cls["nets"]) * len(cls["defenses"]), jobs
    assert "classify_adv" not in jobs and "classify_train" not in jobs, jobs
    others = {r: n for r, n in jobs.items() if not r.startswith("classify_") and r != "claims_table"}
    assert not others, others


def test_classify_l2_thresholds_redo_only_the_l2_table_and_figure(default_copy):
    cls = _default_config()["classify"]
    jobs = rerun_after(default_copy, "classify", ["l2_thresholds"], [*cls["l2_thresholds"], 4.0])
    assert jobs == {"classify_table": 1, "classify_figure": 1}, jobs


def test_retraining_codecs_reruns_everything_that_reads_their_checkpoints(default_copy):
    """train.steps retrains every codec that sets no steps of its own, the later qualities that
    warm-start from them, and what codes, attacks, fine-tunes or defends with those checkpoints
    (once every checkpoint input was ancient(), and none of that reran: stale tables)."""
    from advcompress.codecs.catalog import is_variable_rate

    cfg = _default_config()
    learned = cfg["codecs"]["learned"]
    retrained = [m for m, spec in learned.items() if "steps" not in spec]
    assert retrained, "every default codec overrides train.steps: pick another key"
    jobs = rerun_after(default_copy, "train", ["steps"], cfg["train"]["steps"] + 1)
    assert jobs.get("train_lic") == sum(1 if is_variable_rate(m) else len(learned[m]["qualities"])
                                        for m in retrained), jobs
    assert jobs.get("compress_clean") == sum(len(learned[m]["qualities"]) for m in retrained), jobs
    for rule in ("attack_run", "defense_train_at", "classify_bpp", "rd_table", "claims_table"):
        assert rule in jobs, f"{rule} does not rerun after retraining {retrained}: {jobs}"
    if set(cfg["backdoor"]["lic"]["models"]) & set(retrained):
        assert "backdoor_lic_train" in jobs, jobs
    assert not any(r.startswith("fetch") or r in ("classify_train", "backdoor_train") for r in jobs), jobs


def test_arda_temperature_reruns_arda_but_not_the_tau_ablation(default_copy):
    """attack.tau reruns the ARDA jobs (and what reads them), not the ablation, which sets its own."""
    jobs = rerun_after(default_copy, "attack", ["tau"], 0.5)
    assert "attack_tau" not in jobs and jobs.get("attack_run"), jobs


def test_the_tau_ablations_temperatures_rerun_only_it_and_its_figure(default_copy):
    jobs = rerun_after(default_copy, "attack", ["tau_ablation", "taus"], [0.1, 1.0])
    assert jobs == {"attack_tau": 1, "attack_figure": 1}, jobs


@pytest.mark.parametrize("path,marker", [(["at", "steps"], "@at-"), (["at", "attack", "steps"], "@at-"),
                                         (["online", "steps"], "+online")])
def test_one_defense_key_reruns_only_the_defended_codecs_jobs(default_copy, path, marker):
    """An AT key retrains the AT codecs and redoes what attacks or evaluates them; an online key redoes
    the attacks on the online-updated codecs only. The undefended attacks (Table II), the codecs'
    training and the other studies are left alone."""
    every = attacked(snakemake(default_copy, "--configfile", DEFAULT, "--dry-run", "--forceall").stdout)
    node = _default_config()["defense"]
    for k in path:
        node = node[k]
    out = dry_run_after(default_copy, "defense", path, node + 1)
    jobs = scheduled(out)
    assert attacked(out) == {(a, m) for a, m in every if marker in m}, sorted(attacked(out))
    assert ("defense_train_at" in jobs) == (marker == "@at-"), jobs
    others = {r: n for r, n in jobs.items() if not r.startswith("defense_") and r not in {"attack_run", "claims_table", "all"}}
    assert not others, f"changing defense.{'.'.join(path)} reruns jobs that do not read it: {others}"
