"""`advcompress selfcheck`: the first thing to run on a GPU node (see docs/cluster.md)."""

from __future__ import annotations

import sys


def cmd_selfcheck(a) -> None:
    """Each GPU job's core for a few steps on the target device and on the CPU; exit 1 on a mismatch."""
    from advcompress.device import pick_device, set_threads
    from advcompress.selfcheck import selfcheck

    set_threads(a.threads)
    try:
        target = pick_device(a.device)
        ok = selfcheck(target, a.only, echo=lambda line: print(line, flush=True))
    except (RuntimeError, ValueError) as e:
        if not str(e).startswith(("device ", "unknown check")):
            raise
        print(f"advcompress selfcheck: error: {e}", file=sys.stderr)
        sys.exit(2)
    print("selfcheck: all checks within tolerance" if ok else "selfcheck: MISMATCH, see the lines above",
          flush=True)
    if not ok:
        sys.exit(1)


def register(add) -> None:
    p = add("selfcheck", cmd_selfcheck,
            "compare each GPU job's core (training, SRDA/ARDA, AT, online updating, classifier attack "
            "through a defense, both backdoor trainings) on the device against the CPU; one line per check")
    p.add_argument("--device", default="auto", help="target device: auto (cuda when present, else cpu), cuda, cpu")
    p.add_argument("--only", nargs="+", default=None, metavar="CHECK", help="run only these checks")
