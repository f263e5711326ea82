"""The smoke config on a real one-node Slurm (tests/cluster/slurm_smoke.py).

It installs and starts Slurm daemons (root, apt) and costs many minutes of Slurm polling, so it runs
only when asked: ADVCOMPRESS_SLURM=1 pytest tests/test_cluster_slurm.py. CI runs the dry run
against the profile instead (tests/test_cluster_profile.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DRIVER = ROOT / "tests" / "cluster" / "slurm_smoke.py"


@pytest.mark.skipif(os.environ.get("ADVCOMPRESS_SLURM") != "1",
                    reason="real Slurm run: set ADVCOMPRESS_SLURM=1 (needs root; several minutes)")
def test_smoke_config_runs_on_a_real_slurm(tmp_path):
    proc = subprocess.run([sys.executable, str(DRIVER), "--freeze", "--workdir", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "OK: every job went through sbatch" in proc.stdout


def test_slurm_driver_parsers(tmp_path):
    """The driver's readers of Snakemake's log and Slurm's job-completion log (no Slurm needed)."""
    sys.path.insert(0, str(DRIVER.parent))
    import slurm_smoke as d

    log = ("[Sun Nov 22 00:00:00 2026]\nlocalrule rd_table:\n    input: b\n    jobid: 3\n"
           "sbatch call: sbatch --parsable --job-name u --comment rule_train_lic_wildcards_m_2 "
           "-p debug --gpus=1 --wrap=\"x\"\n"
           "Job 7 has been submitted with SLURM jobid 12 (log: /w/.snakemake/slurm_logs/rule_train_lic/m_2/12.log).\n"
           "[Sun Nov 22 00:00:01 2026]\nFinished jobid: 3 (Rule: rd_table)\n"
           "[Sun Nov 22 00:00:09 2026]\nFinished jobid: 7 (Rule: train_lic)\n")
    assert d.executed_jobs(log) == [("rd_table", "3"), ("train_lic", "7")]
    assert d.submissions(log) == {"7": ("12", "train_lic")}
    assert "--gpus=1" in d.sbatch_calls(log)["train_lic"]
    comp = tmp_path / "jobcomp.log"
    comp.write_text("JobId=12 UserId=root(0) Name=u JobState=COMPLETED Partition=debug\n")
    assert d.jobcomp_records(comp)["12"] == {"JobId": "12", "UserId": "root(0)", "Name": "u",
                                             "JobState": "COMPLETED", "Partition": "debug"}


def test_tables_compare_exactly_except_timing_columns(tmp_path):
    sys.path.insert(0, str(DRIVER.parent))
    import slurm_smoke as d

    for run, (psnr, enc, ms) in {"a": (30.0, 0.1, 5.0), "b": (30.0, 0.7, 9.0)}.items():
        (tmp_path / run).mkdir()
        (tmp_path / run / "t.csv").write_text(f"psnr_db,encode_s,defense_ms_per_image\n{psnr},{enc},{ms}\n")
    assert d.compare_tables(tmp_path / "a", tmp_path / "b") == []
    (tmp_path / "b" / "t.csv").write_text("psnr_db,encode_s,defense_ms_per_image\n30.000001,0.7,9.0\n")
    assert d.compare_tables(tmp_path / "a", tmp_path / "b")
