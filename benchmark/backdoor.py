"""Speed budget of the backdoor stage (issue 6): wall time and peak memory on this machine.

    .venv/bin/python benchmark/backdoor.py [--configfile config/config.yaml] [--cores 2]

First brings the stage's inputs up to date without timing them (datasets, the foundation's
trained codecs), then reruns every backdoor job (--forcerun on the stage's root rules) and times
it. Peak memory is the largest max_rss over the stage's Snakemake benchmark files.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROOT_RULES = ["backdoor_clean_classifier", "backdoor_lic_train"]


def targets(cfg: dict) -> tuple[list[str], list[str]]:
    """(inputs from other stages, this stage's final tables and figures)."""
    out, data, bd = cfg["results"], cfg["data_dir"], cfg["backdoor"]
    learned = cfg["codecs"]["learned"]
    prereq = [f"{data}/digits", f"{data}/train", f"{data}/eval"]
    from advcompress.codecs.learned import ARCHITECTURES
    from advcompress.codecs.registry import registered_codecs

    registered_codecs()  # loads every registered architecture
    for m in bd["lic"]["models"]:
        if learned[m]["weights"] != "trained":
            continue
        for q in bd["lic"]["qualities"] or learned[m]["qualities"]:
            prereq.append(f"{out}/models/{m}/q{'vr' if ARCHITECTURES[m].variable_rate else q}.pt")
    final = [f"{out}/tables/backdoor_table4.csv", f"{out}/tables/backdoor_table5.csv",
             f"{out}/tables/backdoor_table6.csv", f"{out}/figures/backdoor_fig6_asr_vs_jpeg.pdf",
             f"{out}/figures/backdoor_fig7_codec_transfer.pdf", f"{out}/tables/backdoor_lic_table3.csv",
             f"{out}/tables/backdoor_lic_table5.csv", f"{out}/figures/backdoor_lic_fig4_bpp_attack.pdf",
             f"{out}/figures/backdoor_lic_fig5_psnr_attack.pdf", f"{out}/figures/backdoor_lic_fig6_example.png"]
    if bd["studies"].get("ir_sweep"):
        final.append(f"{out}/tables/backdoor_table8.csv")
    if bd["studies"].get("alpha_sweep"):
        final.append(f"{out}/tables/backdoor_table11.csv")
    return sorted(set(prereq)), final


def snakemake(cores: int, configfile: str, *args: str) -> None:
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", configfile, *args]
    subprocess.run(cmd, cwd=ROOT, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--nolock", action="store_true", help="pass --nolock (other Snakemake runs in this directory)")
    a = p.parse_args()
    extra = ["--nolock"] if a.nolock else []
    cfg = yaml.safe_load((ROOT / a.configfile).read_text())
    prereq, final = targets(cfg)
    snakemake(a.cores, a.configfile, *extra, "--", *prereq)
    t0 = time.perf_counter()
    snakemake(a.cores, a.configfile, *extra, "--forcerun", *ROOT_RULES, "--", *final)
    wall = time.perf_counter() - t0
    rss, jobs, wall_s, cpu_s = 0.0, 0, 0.0, 0.0
    for tsv in (ROOT / "benchmarks" / cfg["tier"]).glob("backdoor_*/*.tsv"):
        with open(tsv) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                jobs += 1
                rss = max(rss, float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else 0.0)
                wall_s += float(row["s"])
                cpu_s += float(row.get("cpu_time") or 0.0)
    print(f"backdoor stage ({cfg['tier']} tier, {a.cores} cores): wall {wall:.1f} s, "
          f"peak RSS {rss:.0f} MB over {jobs} benchmarked jobs; sum of job wall times {wall_s:.1f} s, "
          f"of job CPU times {cpu_s:.1f} s (CPU / cores bounds the wall time on an idle machine)")


if __name__ == "__main__":
    main()
