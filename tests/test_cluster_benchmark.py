"""The whole-workflow benchmark's readers of Snakemake's log and benchmark files (benchmark/workflow.py)."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("workflow_benchmark", ROOT / "benchmark" / "workflow.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

LOG = """[Sun Nov 22 00:00:00 2026]
rule train_lic:
    output: results/checkpoints/codecs/m/q2.pt
    jobid: 4
    wildcards: model=m, quality=2

[Sun Nov 22 00:00:02 2026]
localrule rd_table:
    input: a
    jobid: 9

[Sun Nov 22 00:00:10 2026]
Finished jobid: 9 (Rule: rd_table)
[Sun Nov 22 00:01:40 2026]
Finished jobid: 4 (Rule: train_lic)
"""


def test_job_spans_pairs_starts_with_ends():
    spans = bench.job_spans(LOG).set_index("rule")
    assert (spans.loc["train_lic", "end"] - spans.loc["train_lic", "start"]).total_seconds() == 100
    assert (spans.loc["rd_table", "end"] - spans.loc["rd_table", "start"]).total_seconds() == 8


def test_summarise_groups_rules_by_stage_file(tmp_path):
    rules = tmp_path / "workflow" / "rules"
    rules.mkdir(parents=True)
    (rules / "models.smk").write_text("rule train_lic:\n    shell: 'x'\n")
    (rules / "compress.smk").write_text("rule rd_table:\n    shell: 'x'\n")
    b = tmp_path / "benchmarks" / "smoke" / "train_lic"
    b.mkdir(parents=True)
    (b / "m_q2.tsv").write_text("s\th:m:s\tmax_rss\n97.5\t0:01:37\t812.0\n")
    per_rule, per_stage = bench.summarise(tmp_path, "smoke", LOG)
    assert per_rule.loc[("models", "train_lic"), "job_s"] == 97.5
    assert per_rule.loc[("models", "train_lic"), "peak_rss_mib"] == 812.0
    assert per_stage.loc["compress", "jobs"] == 1 and per_stage.loc["compress", "span_s"] == 8
    assert per_stage.loc["models", "span_s"] == 100


def test_table_jobs_benchmarks_with_no_memory_sample_are_read(tmp_path):
    """Table and figure rules are benchmarked too; a sub-second job can end before Snakemake's first
    memory sample, and then its file has NA in every column but the times."""
    rules = tmp_path / "workflow" / "rules"
    rules.mkdir(parents=True)
    (rules / "compress.smk").write_text("rule rd_table:\n    shell: 'x'\n")
    b = tmp_path / "benchmarks" / "smoke" / "rd_table"
    b.mkdir(parents=True)
    (b / "all.tsv").write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                               "0.41\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    per_rule, per_stage = bench.summarise(tmp_path, "smoke", LOG)
    assert per_rule.loc[("compress", "rd_table"), "job_s"] == 0.41
    assert per_stage.loc["compress", "jobs"] == 1 and per_stage["peak_rss_mib"].isna().all()


def test_rules_made_in_a_loop_and_study_targets_have_a_stage(tmp_path):
    rules = tmp_path / "workflow" / "rules"
    rules.mkdir(parents=True)
    (rules / "backdoor.smk").write_text('for _f in [\n    ("backdoor_fig4", "fig4"),\n]:\n\n    rule:\n'
                                        '        name:\n            _f\n')
    (rules / "compress.smk").write_text("rule rd_table:\n    shell: 'x'\n")
    stages = bench.stage_of_rules(tmp_path)
    assert stages["backdoor_fig4"] == "backdoor" and stages["rd_table"] == "compress"
    assert stages["backdoor"] == "backdoor" and stages["foundation"] == "compress"  # the one-study targets


def test_attack_benchmark_runs_on_the_first_trained_checkpoint(tmp_path):
    cfg = {"results": "results", "data_dir": "data/default", "attack": {},
           "codecs": {"learned": {"vbr": {"qualities": [2]}, "fixed": {"qualities": [2, 4]}}}}
    assert bench.attack_args(tmp_path, cfg, "config/config.yaml") is None  # nothing trained yet
    ckpt = tmp_path / "results" / "checkpoints" / "codecs" / "fixed" / "q4.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    args = bench.attack_args(tmp_path, cfg, "config/config.yaml")
    assert args[:5] == ["throughput", "--model", "fixed", "--quality", "4"]
    assert args[args.index("--checkpoint") + 1] == str(ckpt)
    assert bench.attack_args(tmp_path, {k: v for k, v in cfg.items() if k != "attack"}, "c") is None


def test_the_figure_and_table_rules_of_each_study_have_their_stage():
    """The stage files declare their studies' one figure rule and one table rule by calling
    figure_rule and table_rule (figure_rule.smk)."""
    stages = bench.stage_of_rules(ROOT)
    assert stages["attack_figure"] == "attack" and stages["defense_figure"] == "defense"
    assert {r: stages[r] for r in ["classify_table", "classify_figure", "backdoor_table", "backdoor_figure"]} == {
        "classify_table": "classify", "classify_figure": "classify", "backdoor_table": "backdoor",
        "backdoor_figure": "backdoor"}
    # the LIC backdoor's rules, declared by lic_rule.smk's factories, are the backdoor stage's
    assert {stages[r] for r in ["backdoor_lic_train", "backdoor_lic_eval", "backdoor_lic_seg_train",
                                "backdoor_lic_seg_eval", "backdoor_lic_lira_train"]} == {"backdoor"}
    assert stages["attack_tau"] == "attack"  # a rule declared inside an `if` block, indented
