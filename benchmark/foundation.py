"""Wall time and peak memory of the foundation stage (datasets, training, clean compression: the RD
table and figure), from a clean copy of the workflow. Ceiling: 8 minutes on 2 cores.

    .venv/bin/python benchmark/foundation.py [--configfile config/config.yaml] [--cores 2] [--workdir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.stage import Stage, run  # noqa: E402

STAGE = Stage("foundation", ceiling_s=8 * 60, upstream_rules=(),
              report=lambda work, cfg: (work / cfg["results"] / "tables" / "rd_clean.md").read_text())

if __name__ == "__main__":
    run(STAGE, __doc__)
