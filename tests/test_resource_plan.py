"""The paper tier's resource plan (benchmark/resource_plan.py): costs from the job server's log,
their scaling to the paper tier, and the Slurm profile and docs table that come from them."""

from __future__ import annotations

import math

import pytest
import yaml

from benchmark import resource_plan as rp

LOG = """advcompress job server: job 1 in pid 10
advcompress job server: job 1 done: exit 0, 9.0 s wall, 4.0 s CPU, 500 MiB peak RSS: compress --codec jpeg --quality 5 --out results/paper/clean/jpeg/q5.csv --settings
advcompress job server: job 2 done: exit 0, 9.0 s wall, 8.0 s CPU, 700 MiB peak RSS: compress --codec jpeg --quality 9 --out results/paper/clean/jpeg/q9.csv --settings
advcompress job server: job 3 done: exit 2, 1.0 s wall, 1.0 s CPU, 100 MiB peak RSS: compress --codec jpeg --quality 7 --out results/paper/clean/jpeg/q7.csv
advcompress job server: job 4 done: exit 0, 30.0 s wall, 20.0 s CPU, 900 MiB peak RSS: attack-run --attack srda --model tcm --eval-dir data/paper/eval --codec-ckpt tcm@1=data/paper/weights/tcm/q1.pth.tar --codec-ckpt
"""
EVAL = {"data/paper/eval"}
DAG = [("fetch_dataset", set(), EVAL, "", False),
       *(("compress_clean", EVAL, {f"results/paper/clean/jpeg/q{q}.csv", f"results/paper/clean/jpeg/q{q}_recon"}, "compress",
          False) for q in (5, 7, 9)),
       ("defense_clean", EVAL, {"results/paper/defense/clean/tcm/q5.csv"}, "compress", False),
       ("attack_run", EVAL, {"results/paper/attack/srda/tcm/rows.csv", "results/paper/attack/srda/tcm/adv"}, "attack-run", True)]
GPU = ["attack_run", "defense_train_at"]


def test_costs_per_rule_come_from_the_successful_served_jobs():
    """A job is named by its own output, not by the eval folder (an upstream output) in its argv; a
    line cut short names the one rule that runs its command; a failed job is not a cost."""
    rows = rp.costs(rp.served_jobs(LOG), DAG)
    assert rows["compress_clean"] == {"jobs": 2, "cpu_mean_s": 6.0, "cpu_max_s": 8.0, "rss_max_mib": 700.0}
    assert rows["attack_run"]["jobs"] == 1 and rows["attack_run"]["cpu_mean_s"] == 20.0


REHEARSAL_DATA = {"kodak_n": 4, "kodak_px": 6144.0, "div2k_n": 8, "div2k_px": 24576.0, "cifar_train": 500,
                  "val": {"imagenette": 20, "imagenet": 1000}}


def _overlay():
    from benchmark import rehearse_paper

    return rehearse_paper.overlay()


def test_costs_file_round_trips(tmp_path):
    rows = rp.costs(rp.served_jobs(LOG), DAG)
    rp.write_costs(rows, REHEARSAL_DATA, _overlay(), DAG, tmp_path / "c.json", gaps={"tcm": 153.0},
                   local=["x_table"])
    assert rp.read_costs(tmp_path / "c.json") == {
        "rules": rows, "data": REHEARSAL_DATA, "overlay": _overlay(), "gpu_rules": ["attack_run"],
        "dag_rules": ["attack_run", "compress_clean", "defense_clean", "fetch_dataset"], "local_rules": ["x_table"],
        "weight_gap_mib": {"tcm": 153.0}}


def test_paper_work_scales_with_the_keys_the_rehearsal_shrinks():
    paper, rehearsal = rp.configs(_overlay())
    def ratio(rule):
        return rp.mean_work(rule, paper, rp.PAPER_DATA) / rp.mean_work(rule, rehearsal, REHEARSAL_DATA)

    # clean coding: 24 Kodak images of 512x768 against the stand-ins
    assert ratio("compress_clean") == pytest.approx(24 * 512 * 768 / (4 * 6144))
    # the bpp table codes its images through each quality: no attack steps in it
    assert ratio("classify_bpp") == pytest.approx(paper["classify"]["bpp"]["images"] / rehearsal["classify"]["bpp"]["images"])
    # AT: steps, batch, patch^2 and inner attack steps all count
    at_p, at_r = paper["defense"]["at"], rehearsal["defense"]["at"]
    assert at_r["steps"] < at_p["steps"] and at_r["patch"] < at_p["patch"]
    expected = (at_p["steps"] * at_p["batch_size"] * at_p["patch"] ** 2 * (1 + at_p["attack"]["steps"])) / (
        at_r["steps"] * at_r["batch_size"] * at_r["patch"] ** 2 * (1 + at_r["attack"]["steps"]))
    assert ratio("defense_train_at") == pytest.approx(expected)


def test_backdoor_classifier_work_follows_each_jobs_architecture():
    """AlexNet and VGG-16 jobs grow with their own `scale`, ResNet-18 jobs with its width, each
    backdoor run with its own epochs (Table 9's sweep)."""
    import copy

    from advcompress import plan

    paper, _ = rp.configs(_overlay())
    jobs = plan.jobs(paper)
    clean = {s["classifier"]["arch"]: s for (r, _), s in jobs.items() if r == "backdoor_clean_classifier"}
    narrow = copy.deepcopy(paper)
    narrow["backdoor"]["classifier"]["scale"]["vgg16"] = paper["backdoor"]["classifier"]["scale"]["vgg16"] / 2

    def work(cfg, arch):
        return rp.UNITS["backdoor_clean_classifier"][1](cfg, rp.PAPER_DATA, clean[arch])

    assert 3.5 < work(paper, "vgg16") / work(narrow, "vgg16") < 4.1  # ~ scale^2
    assert work(narrow, "resnet18") == work(paper, "resnet18") and work(narrow, "alexnet") == work(paper, "alexnet")
    runs = [s for (r, _), s in jobs.items() if r == "backdoor_train"]
    by_epochs = {s["run"]["epochs"]: rp.UNITS["backdoor_train"][1](paper, rp.PAPER_DATA, s)
                 for s in runs if s["run"]["arch"] == "resnet18"}
    assert by_epochs[100] == pytest.approx(5 * by_epochs[20])


def test_classifier_work_follows_each_jobs_attack_images_and_rounds():
    """FGSM is one step and CW fifty; a sequential job runs its own N rounds; a null image count is
    the net's whole validation split. The longest of a rule's jobs sets its Slurm runtime."""
    from advcompress import plan

    paper, _ = rp.configs(_overlay())
    jobs = plan.jobs(paper)
    work = {w: rp.UNITS[r][1](paper, rp.PAPER_DATA, s, w) for (r, w), s in jobs.items()
            if r in ("classify_attack", "classify_sequential")}
    assert work["net=resnet50, cls_attack=cw, defense=jpeg@25"] == 50 * work["net=resnet50, cls_attack=fgsm, defense=jpeg@25"]
    assert work["net=resnet50, cls_attack=fgsm, defense=jpeg@25"] == rp.PAPER_DATA["val"]["imagenette"]
    assert work["net=resnet50, defense=jpeg@10x50"] == 50 * work["net=resnet50, defense=jpeg@10x1"]
    measured = {"classify_sequential": {"jobs": 2, "cpu_mean_s": 10.0, "cpu_max_s": 12.0, "rss_max_mib": 900.0}}
    row = next(r for r in rp.plan_rows({"rules": measured, "data": REHEARSAL_DATA, "overlay": _overlay(),
                                        "gpu_rules": ["classify_sequential"], "dag_rules": ["classify_sequential"]})
               if r["rule"] == "classify_sequential")
    longest = max(v for k, v in work.items() if "x" in k.rpartition("defense=")[2])
    _, rehearsal = rp.configs(_overlay())
    per_unit = 10.0 / rp.mean_work("classify_sequential", rehearsal, REHEARSAL_DATA) / rp.GPU_RATIO
    assert row["runtime"] == max(rp.MIN_RUNTIME, math.ceil(rp.MARGIN * longest * per_unit / 60))
    assert row["runtime"] > rp.MARGIN * row["per_job_min"]  # the mean job would not do


def test_plan_rows_hours_runtime_and_memory():
    measured = {"compress_clean": {"jobs": 2, "cpu_mean_s": 6.0, "cpu_max_s": 8.0, "rss_max_mib": 700.0},
                "defense_train_at": {"jobs": 3, "cpu_mean_s": 2.0, "cpu_max_s": 3.0, "rss_max_mib": 800.0}}
    rows = {r["rule"]: r for r in rp.plan_rows({"rules": measured, "data": REHEARSAL_DATA, "overlay": _overlay(),
                                                   "gpu_rules": GPU, "dag_rules": [*GPU, "compress_clean"]})}
    clean, at = rows["compress_clean"], rows["defense_train_at"]
    assert not clean["gpu"] and at["gpu"]  # the rehearsal DAG's gpu=1 resources
    assert clean["hours"] == pytest.approx(clean["paper_jobs"] * 6.0 * clean["scale"] / 3600)  # CPU: no ratio
    assert at["hours"] == pytest.approx(at["paper_jobs"] * 2.0 * at["scale"] / rp.GPU_RATIO / 3600)
    assert at["runtime"] == max(rp.MIN_RUNTIME, math.ceil(rp.MARGIN * 2.0 * at["scale"] / rp.GPU_RATIO / 60))
    assert at["mem_mb"] > 2 * 800 + 6000  # AT holds DIV2K as 8-bit codes: ~6.6 GB
    assert rows["attack_run"]["measured"] is None and "runtime" not in rows["attack_run"]


def test_memory_adds_the_official_weights_the_narrow_stand_ins_lack():
    """A classify_bpp job through HiFiC holds its official 690 MiB of weights on the cluster; the
    rehearsal's narrow stand-in did not, so its peak RSS alone would undersize the job."""
    assert rp.job_codecs("net=resnet50, defense=hific@1x2", None) == {"hific"}
    assert rp.job_codecs("attack=srda, victim=stf@at-srda+online", None) == {"stf"}
    assert rp.job_codecs("net=resnet50", {"codecs": {"jpeg": {}, "elic": {}}}) == {"jpeg", "elic"}
    measured = {"classify_bpp": {"jobs": 2, "cpu_mean_s": 5.0, "cpu_max_s": 6.0, "rss_max_mib": 1000.0}}
    costs = {"rules": measured, "data": REHEARSAL_DATA, "overlay": _overlay(), "gpu_rules": ["classify_bpp"],
             "dag_rules": ["classify_bpp"]}
    row = {r["rule"]: r for r in rp.plan_rows({**costs, "weight_gap_mib": {"hific": 700.0, "elic": 130.0}})}
    assert row["classify_bpp"]["mem_mb"] == 3500  # 2 x (1000 + 700), rounded up to 500
    row = {r["rule"]: r for r in rp.plan_rows({**costs, "weight_gap_mib": {}})}
    assert row["classify_bpp"]["mem_mb"] == 2000


def test_weight_gap_is_the_official_files_tensors_beyond_the_stand_ins(tmp_path):
    from benchmark import standins

    weights = tmp_path / "data" / "paper" / "weights"
    standins.torchvision_weights(weights / "torchvision" / "resnet50.pth", "resnet50")  # not a codec
    for q in (1, 2):
        standins.codec_checkpoint(weights / "bmshj2018-factorized" / f"q{q}.pth.tar", "bmshj2018-factorized", q,
                                  standins.REHEARSAL_WIDTHS["bmshj2018-factorized"])
    gaps = rp.weight_gaps(tmp_path)
    official = rp._tensor_mib(standins.official_checkpoint("bmshj2018-factorized", 2))
    narrow = rp._tensor_mib(standins.official_checkpoint("bmshj2018-factorized", 2, standins.REHEARSAL_WIDTHS["bmshj2018-factorized"]))
    assert list(gaps) == ["bmshj2018-factorized"] and gaps["bmshj2018-factorized"] == pytest.approx(official - narrow, abs=0.1)
    assert 0 < narrow < official


def test_local_rules_come_from_the_parsed_workflow(tmp_path):
    """Both spellings, a `localrules:` block (rd_table) and `localrule: True` of a loop-made rule
    (attack_figure); a GPU job (attack_run) is not one. The committed costs carry them."""
    from tests.conftest import copy_workflow

    for local in (set(rp.local_rules(copy_workflow(tmp_path))), set(rp.read_costs()["local_rules"])):
        assert {"rd_table", "attack_figure", "claims_table", "fetch_dataset", "all"} <= local
        assert "attack_run" not in local and "compress_clean" not in local


def test_the_committed_profile_and_docs_are_the_plan_of_the_committed_costs():
    rows = rp.plan_rows(rp.read_costs())
    profile = rp.PROFILE.read_text()
    stale = "stale: run .venv/bin/python benchmark/resource_plan.py plan --write-profile --write-docs"
    assert rp.profile_block(rows) in profile, stale
    set_resources = yaml.safe_load(profile)["set-resources"]
    for r in rows:
        if r["measured"] and not r["local"]:
            assert set_resources[r["rule"]] == {"runtime": r["runtime"], "mem_mb": r["mem_mb"]}
        else:  # localrules run on the submit host (tests/test_cluster_profile.py)
            assert r["rule"] not in set_resources
    assert rp.markdown(rows) in rp.DOCS.read_text(), stale


def test_stand_in_sizes_are_counted_on_disk(tmp_path):
    from benchmark import standins

    data = tmp_path / "data" / "paper"
    standins.kodak(data / "eval", (16, 24), n=3)
    standins.div2k(data / "train", 2, (32, 48))
    standins.cifar10(data / "cifar10", 10)
    standins.imagenette(data / "imagenette", 1)
    (data / "imagenet" / "val" / "n01").mkdir(parents=True)
    (data / "imagenet" / "val" / "n01" / "a.JPEG").write_bytes(b"x")
    sizes = rp.stand_in_sizes(tmp_path)
    assert sizes == {"kodak_n": 3, "kodak_px": 16 * 24, "div2k_n": 2, "div2k_px": 32 * 48, "cifar_train": 50,
                     "val": {"imagenette": 10, "imagenet": 1}}
