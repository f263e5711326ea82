"""Eager against `torch.compile` (inductor) for a default-tier training step: CPU seconds.

    .venv/bin/python benchmark/compile.py [--models bmshj2018-hyperprior mbt2018] [--batch 16]
                                          [--patch 64] [--steps 10] [--repeats 3] [--threads 1]
                                          [--backend inductor]

Why the workflow does not compile its networks: this prints, per model at its default widths and
on `--threads` threads (one, as every job), the seconds of the first compiled step with an empty
and with a warm inductor cache (the compilation a job would pay, the first of a model or a later
one), the median CPU seconds of a training step (`benchmark/steps.py`) eager and compiled, their
ratio (above 1: compiled is cheaper), and the largest difference of the two reconstructions.
Attack steps are not compiled: the quantization proxy swaps methods on the entropy models per
call, which would recompile every step.
"""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

# A fresh inductor cache, named before torch reads it, so that the first compilation is a new machine's.
CACHE = tempfile.mkdtemp(prefix="inductor-")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = CACHE
atexit.register(shutil.rmtree, CACHE, ignore_errors=True)

import torch  # noqa: E402

from advcompress.codecs import make_codec  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.steps import interleaved_medians, main, ratios, train_step_s  # noqa: E402

DEFAULT_WIDTHS = {"N": 64, "M": 96}


def cpu_s() -> float:
    """This process's CPU seconds and its waited-for children's: inductor runs a C++ compiler."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def compare(name: str, a, x: torch.Tensor) -> dict:
    # compile on the job's threads, in this process and its compiler children, which cpu_s counts
    torch._inductor.config.compile_threads = a.threads
    torch.manual_seed(0)
    codec = make_codec(name, 4, weights="untrained", widths=DEFAULT_WIDTHS)
    nets = {"eager": codec.net}
    opt = torch.optim.Adam(codec.parameters(), 1e-4)

    def use(variant: str) -> None:
        codec.net = nets[variant]

    first = {}
    for cache in ("cold", "warm"):  # the second compilation finds the first one's graphs on disk
        torch._dynamo.reset()
        nets["compiled"] = torch.compile(nets["eager"], backend=a.backend)
        use("compiled")
        wall, cpu = time.perf_counter(), cpu_s()
        train_step_s(codec, x, opt, 1)
        first[f"first_step_{cache}_cache_wall_s"] = round(time.perf_counter() - wall, 2)
        first[f"first_step_{cache}_cache_cpu_s"] = round(cpu_s() - cpu, 2)
    med = interleaved_medians({v: (lambda v=v: use(v)) for v in nets},
                              lambda: {"train": train_step_s(codec, x, opt, a.steps)}, a.repeats)
    codec.eval()
    recon = {}
    for v in nets:
        use(v)
        with torch.no_grad():
            recon[v] = codec.forward(x)["x_hat"]
    return {
        **first,
        **{f"{kind}_cpu_s_{v}": round(s, 4) for (kind, v), s in med.items()},
        **ratios(med, "eager", "compiled"),
        "max_abs_diff_x_hat": float((recon["eager"] - recon["compiled"]).abs().max()),
    }


if __name__ == "__main__":
    main(__doc__, ["bmshj2018-hyperprior", "mbt2018"], 10, compare,
         lambda ap: ap.add_argument("--backend", default="inductor",
                                    help="torch.compile backend (aot_eager: no code generation)"))
