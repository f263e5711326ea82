"""Wall time and peak memory of the foundation stage (datasets, training, clean compression).

Runs the default config's RD table and figure from a clean copy of the workflow and prints the
figures per rule (from Snakemake's benchmark files) and in total. Target: under 8 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.workflow import benchmark_table  # noqa: E402
from tests.conftest import copy_workflow, snakemake  # noqa: E402


def rule_stats(work: Path, tier: str) -> pd.DataFrame:
    """Per rule: jobs, summed wall and CPU seconds, peak resident memory (MiB)."""
    jobs = benchmark_table(work, tier)
    return jobs.groupby("rule").agg(jobs=("s", "size"), seconds=("s", "sum"), cpu_seconds=("cpu_s", "sum"),
                                    peak_rss_mib=("max_rss_mib", "max"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--cores", default="2")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = copy_workflow(Path(tmp) / "wf")
        import yaml

        cfg = yaml.safe_load((work / a.configfile).read_text())
        out = cfg["results"]
        targets = [f"{out}/tables/rd_clean.csv", f"{out}/figures/rd_clean.pdf"]
        t0 = time.perf_counter()
        snakemake(work, "--configfile", a.configfile, "--cores", a.cores, *targets)
        wall = time.perf_counter() - t0
        stats = rule_stats(work, cfg["tier"])
        print(stats.to_string(float_format=lambda v: f"{v:.1f}"))
        print(f"foundation stage: wall {wall:.1f} s on {a.cores} cores; "
              f"peak job memory {stats.peak_rss_mib.max():.0f} MiB; summed job wall {stats.seconds.sum():.1f} s, "
              f"CPU {stats.cpu_seconds.sum():.1f} s")
        print((work / out / "tables" / "rd_clean.md").read_text())


if __name__ == "__main__":
    main()
