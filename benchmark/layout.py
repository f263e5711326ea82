"""Contiguous against channels_last memory layout, per default-tier learned codec: CPU seconds.

    .venv/bin/python benchmark/layout.py [--models cai2022 stf bmshj2018-hyperprior] [--batch 16]
                                         [--patch 64] [--steps 6] [--repeats 3] [--threads 1]

`Architecture.memory_format` says which layout a network computes in. This prints, per model at
its default-tier widths (`config/config.yaml`) and on `--threads` threads (one, as every job):
the median CPU seconds of a training step and of an attack step (`benchmark/gdn.py`'s), and of
coding one 128x128 image for real (compress + decompress), in each layout, interleaved so that
load drifts hit both alike; then the ratios and the largest difference of the reconstructions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advcompress.codecs import make_codec  # noqa: E402
from benchmark.gdn import attack_step_s, train_step_s  # noqa: E402

CONFIG = ROOT / "config" / "config.yaml"
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def set_layout(codec, fmt: torch.memory_format) -> None:
    codec.arch = dataclasses.replace(codec.arch, memory_format=fmt)
    codec.net.to(memory_format=fmt)


def code_s(codec, x: torch.Tensor) -> float:
    t = time.process_time()
    codec.decompress(codec.compress(x))
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["cai2022", "stf", "bmshj2018-hyperprior"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    learned = yaml.safe_load(CONFIG.read_text())["codecs"]["learned"]
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(a.batch, 3, a.patch, a.patch, generator=gen)
    image = torch.rand(1, 3, 128, 128, generator=gen)
    for name in a.models:
        entry = learned[name]
        torch.manual_seed(0)
        codec = make_codec(name, entry["qualities"][1], weights="untrained", widths=entry.get("widths"))
        opt = torch.optim.Adam(codec.parameters(), 1e-4)
        times: dict[tuple[str, str], list[float]] = {}
        for rep in range(a.repeats + 1):  # the first round warms up and is dropped
            for layout in list(LAYOUTS) if rep % 2 == 0 else list(LAYOUTS)[::-1]:
                set_layout(codec, LAYOUTS[layout])
                step = {"train": train_step_s(codec, x, opt, a.steps), "attack": attack_step_s(codec, x, a.steps)}
                codec.eval()
                codec.update()
                step["code"] = code_s(codec, image)
                for kind, s in step.items():
                    if rep:
                        times.setdefault((kind, layout), []).append(s)
        recon = {}
        for layout, fmt in LAYOUTS.items():
            set_layout(codec, fmt)
            with torch.no_grad():
                recon[layout] = codec.forward(x)["x_hat"]
        med = {k: statistics.median(v) for k, v in times.items()}
        print(json.dumps({
            "model": name, "batch": a.batch, "patch": a.patch, "threads": a.threads,
            **{f"{kind}_cpu_s_{layout}": round(s, 4) for (kind, layout), s in med.items()},
            **{f"{kind}_contiguous_over_channels_last": round(med[kind, "contiguous"] / med[kind, "channels_last"], 3)
               for kind in ("train", "attack", "code")},
            "max_abs_diff_x_hat": float((recon["contiguous"] - recon["channels_last"]).abs().max()),
        }), flush=True)


if __name__ == "__main__":
    main()
