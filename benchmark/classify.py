"""Wall time and peak memory of the classifier study's stage (default config unless --configfile).

Runs Snakemake on the stage's final targets in the given working copy. The foundation's
prerequisites (digits, trained LIC checkpoints) are built first and not counted, so the number
is this stage alone; peak memory is the largest max_rss of its jobs' benchmark files.

    .venv/bin/python benchmark/classify.py [--workdir .] [--configfile config/config.yaml] [--cores 2]
"""

from __future__ import annotations

import argparse
import glob
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

STAGE_RULES = ("classify_train", "classify_adv", "classify_attack", "classify_ablation", "classify_sequential",
               "classify_bpp", "classify_overhead", "classify_adaptive")


def targets(cfg: dict) -> tuple[list[str], list[str]]:
    """(prerequisites, stage targets) for a config."""
    out, data = cfg["results"], cfg["data_dir"]
    c = cfg["classify"]
    kinds = ["linf", "ifgsm", "l2", "ablation", "sequential", "bpp", "overhead", "adaptive"]
    stage = [f"{out}/tables/classify_{k}.md" for k in kinds]
    stage += [f"{out}/figures/classify_{k}.pdf" for k in ("linf", "l2", "ablation", "sequential")]
    stage += [f"{out}/figures/classify_adaptive_{n}.pdf" for n in c["adaptive"]["nets"]]
    pre = [f"{data}/digits"]
    return pre, stage


def snakemake(workdir, configfile, cores, files, extra=()):
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", configfile, *extra, "--", *files]
    subprocess.run(cmd, cwd=workdir, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workdir", default=".")
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--cores", type=int, default=2)
    a = p.parse_args()
    wd = Path(a.workdir)
    cfg = yaml.safe_load((wd / a.configfile).read_text())
    pre, stage = targets(cfg)
    # Everything upstream (data, trained codecs) first, so only the stage is timed.
    snakemake(wd, a.configfile, a.cores, stage, ["--until", "train_lic", "fetch_dataset"])
    snakemake(wd, a.configfile, a.cores, pre)
    # Two calls: the stage reads the classifier through ancient() (so a `dvc pull` reruns nothing),
    # and with classify_train forced in the same call Snakemake plans none of the jobs after it.
    t0 = time.perf_counter()
    snakemake(wd, a.configfile, a.cores, stage, ["--forcerun", STAGE_RULES[0]])
    snakemake(wd, a.configfile, a.cores, stage, ["--forcerun", *STAGE_RULES[1:]])
    wall = time.perf_counter() - t0
    tsvs = [f for r in STAGE_RULES for f in glob.glob(str(wd / "benchmarks" / cfg["tier"] / r / "*.tsv"))]
    bench = pd.concat([pd.read_csv(f, sep="\t") for f in tsvs]) if tsvs else pd.DataFrame({"max_rss": [float("nan")], "s": [0]})
    print(f"classify stage ({cfg['tier']}): wall {wall:.1f} s on {a.cores} cores; "
          f"{len(tsvs)} jobs, summed job time {bench['s'].sum():.1f} s; peak job memory {bench['max_rss'].max():.0f} MB")


if __name__ == "__main__":
    main()
