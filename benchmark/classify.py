"""Wall time and peak memory of the classifier-defense stage (classifiers, attacks through the
compression defenses, every classify table and figure), from a clean copy of the workflow.
Ceiling: 6 minutes on 2 cores. Datasets and the trained LIC defenses are built first, untimed.

    .venv/bin/python benchmark/classify.py [--configfile config/config.yaml] [--cores 2] [--workdir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.stage import Stage, run  # noqa: E402

STAGE = Stage("classify", ceiling_s=6 * 60)

if __name__ == "__main__":
    run(STAGE, __doc__)
