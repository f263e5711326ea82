"""Wall time and peak memory of the backdoor stage (compression-resistant classifier backdoors and
the backdoored learned encoder: Tables 3-6, 8, 11 and their figures), from a clean copy of the
workflow. Ceiling: 8 minutes on 2 cores. Datasets and the trained codecs the encoder backdoor
starts from are built first, untimed.

    .venv/bin/python benchmark/backdoor.py [--configfile config/config.yaml] [--cores 2] [--workdir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.stage import Stage, run  # noqa: E402


def tables(work: Path, cfg: dict) -> str:
    t = work / cfg["results"] / "tables"
    return "\n".join(pd.read_csv(t / f"backdoor_{n}.csv").to_string() for n in ("table4", "lic_table3")) + "\n"


STAGE = Stage("backdoor", ceiling_s=8 * 60, report=tables)

if __name__ == "__main__":
    run(STAGE, __doc__)
