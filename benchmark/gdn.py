"""CompressAI's GDN against `MatmulGDN` (the project's GDN layers): CPU seconds per step.

    .venv/bin/python benchmark/gdn.py [--models bmshj2018-factorized bmshj2018-hyperprior mbt2018]
                                      [--batch 16] [--patch 64] [--steps 15] [--repeats 3] [--threads 1]

For each default-tier GDN model at its default widths it times, on `--threads` threads (one, as
every job), a training step (forward, R + lambda D, backward, Adam) and an attack step (forward
with the noise proxy and the input gradient), with the layers computed by CompressAI's GDN and by
`MatmulGDN`, interleaved so that load drifts hit both alike; prints the medians, their ratio, and
the largest difference of the two layers' reconstructions on the same weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from compressai.layers import GDN

from advcompress.codecs import make_codec
from advcompress.codecs.learned import MatmulGDN
from advcompress.foundation.train import rd_loss

DEFAULT_WIDTHS = {"N": 64, "M": 96}


def set_gdn(net: torch.nn.Module, cls: type) -> None:
    for m in net.modules():
        if type(m) in (GDN, MatmulGDN):
            m.__class__ = cls


def train_step_s(codec, x, opt, steps: int) -> float:
    codec.train()
    t = time.process_time()
    for _ in range(steps):
        loss = rd_loss(codec.forward(x), x, 0.013)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.process_time() - t) / steps


def attack_step_s(codec, x, steps: int) -> float:
    codec.eval()
    t = time.process_time()
    for _ in range(steps):
        xa = x.clone().requires_grad_(True)
        out = codec.forward(xa, proxy="noise")
        loss = rd_loss(out, x, 0.013)["loss"]
        torch.autograd.grad(loss, xa)
    return (time.process_time() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.rand(a.batch, 3, a.patch, a.patch, generator=torch.Generator().manual_seed(0))
    report = []
    for name in a.models:
        torch.manual_seed(0)
        codec = make_codec(name, 4, weights="untrained", widths=DEFAULT_WIDTHS)
        opt = torch.optim.Adam(codec.parameters(), 1e-4)
        times = {(kind, cls.__name__): [] for kind in ("train", "attack") for cls in (GDN, MatmulGDN)}
        for rep in range(a.repeats + 1):  # the first round warms up and is dropped
            for cls in (GDN, MatmulGDN) if rep % 2 == 0 else (MatmulGDN, GDN):
                set_gdn(codec, cls)
                tr, at = train_step_s(codec, x, opt, a.steps), attack_step_s(codec, x, a.steps)
                if rep:
                    times["train", cls.__name__].append(tr)
                    times["attack", cls.__name__].append(at)
        codec.eval()
        with torch.no_grad():
            set_gdn(codec, GDN)
            ref = codec.forward(x)["x_hat"]
            set_gdn(codec, MatmulGDN)
            new = codec.forward(x)["x_hat"]
        med = {k: statistics.median(v) for k, v in times.items()}
        report.append({
            "model": name, "batch": a.batch, "patch": a.patch, "threads": a.threads,
            **{f"{kind}_step_cpu_s_{cls}": round(med[kind, cls], 4) for kind, cls in med},
            **{f"{kind}_speedup": round(med[kind, "GDN"] / med[kind, "MatmulGDN"], 3) for kind in ("train", "attack")},
            "max_abs_diff_x_hat": float((ref - new).abs().max()),
        })
        print(json.dumps(report[-1]), flush=True)


if __name__ == "__main__":
    main()
