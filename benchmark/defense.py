"""Wall time and peak memory of the defense stage (adversarial training, online updating, the attacks
of the defended codecs, Table III, Figs. 13-15 and 17), from a clean copy of the workflow. Ceiling:
6 minutes on 2 cores.

    .venv/bin/python benchmark/defense.py [--configfile config/config.yaml] [--cores 2] [--workdir DIR]

Untimed first: training and clean coding of the undefended codecs and their attack rows, which
Table III compares against (the attack stage's work).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.stage import Stage, run  # noqa: E402


def undefended(cfg: dict) -> list[str]:
    out, d, learned = cfg["results"], cfg["defense"], cfg["codecs"]["learned"]
    models = d["models"] or list(learned)
    files = [f"{out}/attack/{atk}/{m}/rows.csv" for atk in d["attacks"] for m in models]
    return files + [f"{out}/clean/{m}/q{q}.csv" for m in models for q in learned[m]["qualities"]]


def tables(work: Path, cfg: dict) -> str:
    d = work / cfg["results"] / "tables" / "defense"
    return (d / "table3.md").read_text() + pd.read_csv(d / "robustness_srda.csv").to_string() + "\n"


STAGE = Stage("defense", ceiling_s=6 * 60, prerequisites=undefended, report=tables)

if __name__ == "__main__":
    run(STAGE, __doc__)
