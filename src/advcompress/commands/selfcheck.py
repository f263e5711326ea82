"""`advcompress selfcheck`: the first thing to run on a GPU node (see docs/cluster.md)."""

from __future__ import annotations

import re
import sys

from advcompress.cli import Names, registry_names
from advcompress.errors import UserError

CHECKS = registry_names("check", "advcompress.selfcheck", "CHECKS", "CHECK")
DEVICES = Names("device", lambda: ["auto", "cpu", "cuda", "cuda:<index>"], "DEVICE",
                accepts=lambda d: re.fullmatch(r"auto|cpu|cuda(:\d+)?", d) is not None)


def cmd_selfcheck(a) -> None:
    """Each GPU job's core for a few steps on the target device and on the CPU; exit 1 on a mismatch."""
    from advcompress.device import pick_device, set_threads
    from advcompress.selfcheck import selfcheck

    set_threads(a.threads)
    try:
        target = pick_device(a.device)
    except RuntimeError as e:  # no CUDA device visible: the node, not the code
        raise UserError(str(e)) from None
    ok = selfcheck(target, a.only, echo=lambda line: print(line, flush=True))
    print("selfcheck: all checks within tolerance" if ok else "selfcheck: MISMATCH, see the lines above",
          flush=True)
    if not ok:
        sys.exit(1)


def register(add) -> None:
    p = add("selfcheck", cmd_selfcheck)
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="target device: auto (cuda when present, else cpu), cuda[:<index>], cpu")
    p.add_argument("--only", nargs="+", default=None, choices=CHECKS, help="run only these checks")
