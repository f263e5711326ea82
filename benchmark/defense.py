"""Wall time and peak memory of the defense stage (adversarial training, online updating, their
attacks, Table III and Figs. 13-15, 17) on the default config.

In a clean copy of the workflow it first builds what the stage reads from earlier stages (the
defended models' checkpoints and clean tables, the attack rows of the undefended models), untimed,
then times the defense targets alone and prints per-rule figures from Snakemake's benchmark files
(attack jobs of defended codecs counted as the defense stage's). Target: about 3 minutes on 2 cores
(issue ceiling: 6).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.workflow import benchmark_table  # noqa: E402
from tests.conftest import copy_workflow, snakemake  # noqa: E402


def defense_stats(work: Path, tier: str) -> pd.DataFrame:
    """Per rule of the defense stage: jobs, summed wall and CPU seconds, peak resident memory (MiB).

    CPU seconds matter on a shared machine: a one-thread job's wall time grows with the load, its
    CPU time hardly.
    """
    jobs = benchmark_table(work, tier, with_job=True)
    attacks = jobs["rule"] == "attack_run"
    defended = jobs["job"].str.contains("@|\\+")  # attacks of undefended models: the attack stage's
    jobs = jobs[jobs["rule"].str.startswith("defense") | (attacks & defended)]
    return jobs.groupby("rule").agg(jobs=("s", "size"), seconds=("s", "sum"), cpu_seconds=("cpu_s", "sum"),
                                    peak_rss_mib=("max_rss_mib", "max"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--cores", default="2")
    a = p.parse_args()
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        work = copy_workflow(Path(tmp) / "wf")
        if (ROOT / "envs").is_dir() and not (work / "envs").exists():  # the rules' conda env file
            shutil.copytree(ROOT / "envs", work / "envs")
        cfg = yaml.safe_load((work / a.configfile).read_text())
        out, d = cfg["results"], cfg["defense"]
        models = d["models"] or list(cfg["codecs"]["learned"])
        prereq = [f"{out}/attack/{atk}/{m}/rows.csv" for atk in d["attacks"] for m in models]
        prereq += [f"{out}/clean/{m}/q{q}.csv" for m in models for q in cfg["codecs"]["learned"][m]["qualities"]]
        t0 = time.perf_counter()
        snakemake(work, "--configfile", a.configfile, "--cores", a.cores, *prereq)
        print(f"prerequisites (training, clean coding, attacks of the undefended models): "
              f"{time.perf_counter() - t0:.1f} s, not counted")
        targets = [f"{out}/tables/defense/table3.csv", f"{out}/figures/defense/combined_srda.pdf",
                   f"{out}/figures/defense/clean_rd_at.pdf"]
        targets += [f"{out}/figures/defense/improvement_{atk}.pdf" for atk in d["attacks"]]
        t0 = time.perf_counter()
        snakemake(work, "--configfile", a.configfile, "--cores", a.cores, *targets)
        wall = time.perf_counter() - t0
        stats = defense_stats(work, cfg["tier"])
        print(stats.to_string(float_format=lambda v: f"{v:.1f}"))
        print(f"defense stage: wall {wall:.1f} s on {a.cores} cores; "
              f"peak job memory {stats.peak_rss_mib.max():.0f} MiB; summed job time {stats.seconds.sum():.1f} s; "
              f"summed CPU time {stats.cpu_seconds.sum():.1f} s (1 thread a job: the wall time on idle cores "
              f"is about this over the cores)")
        print((work / out / "tables" / "defense" / "table3.md").read_text())
        print(pd.read_csv(work / out / "tables" / "defense" / "robustness_srda.csv").to_string())


if __name__ == "__main__":
    main()
