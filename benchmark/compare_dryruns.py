"""Do two dry runs plan the same jobs? `snakemake -n -p --forceall` output A against B, job by job.

    .venv/bin/snakemake -n -p --forceall [--configfile ...] > before.txt   # in one checkout
    .venv/bin/snakemake -n -p --forceall [--configfile ...] > after.txt    # in the other
    .venv/bin/python benchmark/compare_dryruns.py before.txt after.txt

A job is its rule name with its `input`, `output`, `log`, `benchmark` and `wildcards` lines and its
shell command; Snakemake prints jobs in no fixed order and numbers them as it goes, so the jobs are
compared as a multiset and `jobid`, `reason`, `resources` and the timestamps are left out. A
refactoring that changes no science (issue 17's package moves) must plan exactly the same jobs.
Exit status 0 when they are, 1 naming the jobs on one side only, 2 for a file without jobs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

KEPT = ("input:", "output:", "log:", "benchmark:", "wildcards:")
RULE = re.compile(r"^(?:local)?rule (\w+):$")


def jobs(text: str) -> Counter:
    """Each job of a dry run as one text: rule, its kept lines and its shell command."""
    out, job = Counter(), None
    for line in [*text.splitlines(), ""]:
        m = RULE.match(line)
        if job is not None and (m or not line.strip()):  # a job without a shell command (a target rule)
            out["\n  ".join(job)] += 1
            job = None
        if m:
            job = [m.group(1)]
        elif job is not None and line.strip().startswith(KEPT):
            job.append(line.strip())
        elif job is not None and line.startswith("Shell command:"):
            out["\n  ".join([*job, line])] += 1
            job = None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="one checkout's `snakemake -n -p --forceall` output")
    p.add_argument("b", type=Path, help="the other's")
    a = p.parse_args(argv)
    ja, jb = (jobs(f.read_text()) if f.is_file() else Counter() for f in (a.a, a.b))
    for f, j in ((a.a, ja), (a.b, jb)):
        if not j:
            print(f"compare_dryruns: {f} holds no planned job", file=sys.stderr)
            return 2
    only_a, only_b = ja - jb, jb - ja
    for side, only in ((a.a, only_a), (a.b, only_b)):
        for job, n in sorted(only.items()):
            print(f"only in {side} ({n}x):\n  {job}")
    if only_a or only_b:
        return 1
    print(f"{sum(ja.values())} jobs, each with the same rule, files, wildcards and shell command")
    return 0


if __name__ == "__main__":
    sys.exit(main())
