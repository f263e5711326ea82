"""CPU seconds per training and attack step, for the benchmarks that compare two ways of computing
one network (gdn.py, layout.py, compile.py).

The two ways run in alternating order, round after round, so that a drift in the machine's load hits
both alike; the first round warms up (allocator, oneDNN kernels, compilation) and is dropped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from advcompress.foundation.train import rd_loss

LMBDA = 0.013  # CompressAI's quality-4 lambda: the middle of the default ladder


def _parser(doc: str, models: list[str], steps: int) -> argparse.ArgumentParser:
    """The options every step benchmark shares; one thread by default, as every workflow job."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=models)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    return ap


def train_step_s(codec, x: torch.Tensor, opt: torch.optim.Optimizer, steps: int) -> float:
    """Forward, R + lambda D, backward and Adam, as `train-lic` does."""
    codec.train()
    t = time.process_time()
    for _ in range(steps):
        loss = rd_loss(codec.forward(x), x, LMBDA)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.process_time() - t) / steps


def attack_step_s(codec, x: torch.Tensor, steps: int) -> float:
    """Forward through the noise proxy and the input gradient, as an SRDA step does."""
    codec.eval()
    t = time.process_time()
    for _ in range(steps):
        xa = x.clone().requires_grad_(True)
        loss = rd_loss(codec.forward(xa, proxy="noise"), x, LMBDA)["loss"]
        torch.autograd.grad(loss, xa)
    return (time.process_time() - t) / steps


def interleaved_medians(variants: dict[str, Callable[[], None]], measure: Callable[[], dict[str, float]],
                        repeats: int) -> dict[tuple[str, str], float]:
    """{(kind, variant): median seconds} of `measure()` after each variant's set-up, over `repeats`
    rounds that alternate the variants' order, after one dropped warm-up round."""
    times: dict[tuple[str, str], list[float]] = {}
    names = list(variants)
    for rep in range(repeats + 1):
        for name in names if rep % 2 == 0 else names[::-1]:
            variants[name]()
            for kind, s in measure().items():
                if rep:
                    times.setdefault((kind, name), []).append(s)
    return {k: statistics.median(v) for k, v in times.items()}


def ratios(med: dict[tuple[str, str], float], base: str, other: str) -> dict[str, float]:
    """{'<kind>_<base>_over_<other>': ratio}: above 1 where `other` is cheaper."""
    kinds = dict.fromkeys(k for k, _ in med)
    return {f"{k}_{base}_over_{other}": round(med[k, base] / med[k, other], 3) for k in kinds}


def main(doc: str, models: list[str], steps: int, compare: Callable[[str, argparse.Namespace, torch.Tensor], dict],
         options: Callable[[argparse.ArgumentParser], None] = lambda ap: None) -> None:
    """Parse the shared options (and a script's own `options`) and print `compare(model, args,
    batch)` as a JSON line per model."""
    ap = _parser(doc, models, steps)
    options(ap)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.rand(a.batch, 3, a.patch, a.patch, generator=torch.Generator().manual_seed(0))
    for name in a.models:
        print(json.dumps({"model": name, "batch": a.batch, "patch": a.patch, "threads": a.threads,
                          **compare(name, a, x)}), flush=True)
