"""Contiguous against channels_last memory layout, per default-tier learned codec: CPU seconds.

    .venv/bin/python benchmark/layout.py [--models cai2022 stf bmshj2018-hyperprior] [--batch 16]
                                         [--patch 64] [--steps 6] [--repeats 3] [--threads 1]

`Architecture.memory_format` says which layout a network computes in. This prints, per model at
its default-tier widths (`config/config.yaml`) and on `--threads` threads (one, as every job):
the median CPU seconds of a training step and of an attack step (`benchmark/steps.py`), and of
coding one 128x128 image for real (compress + decompress), in each layout; then the ratios (above
1: channels_last is cheaper) and the largest difference of the reconstructions.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch
import yaml

from advcompress.codecs import make_codec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.steps import attack_step_s, interleaved_medians, main, ratios, train_step_s  # noqa: E402

CONFIG = ROOT / "config" / "config.yaml"
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def set_layout(codec, fmt: torch.memory_format) -> None:
    codec.arch = dataclasses.replace(codec.arch, memory_format=fmt)
    codec.net.to(memory_format=fmt)


def code_s(codec, x: torch.Tensor) -> float:
    codec.eval()
    codec.update()
    t = time.process_time()
    codec.decompress(codec.compress(x))
    return time.process_time() - t


def compare(name: str, a, x: torch.Tensor) -> dict:
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    entry = yaml.safe_load(CONFIG.read_text())["codecs"]["learned"][name]
    torch.manual_seed(0)
    codec = make_codec(name, entry["qualities"][1], weights="untrained", widths=entry.get("widths"))
    opt = torch.optim.Adam(codec.parameters(), 1e-4)
    med = interleaved_medians(
        {layout: (lambda fmt=fmt: set_layout(codec, fmt)) for layout, fmt in LAYOUTS.items()},
        lambda: {"train": train_step_s(codec, x, opt, a.steps), "attack": attack_step_s(codec, x, a.steps),
                 "code": code_s(codec, image)},
        a.repeats,
    )
    recon = {}
    for layout, fmt in LAYOUTS.items():
        set_layout(codec, fmt)
        with torch.no_grad():
            recon[layout] = codec.forward(x)["x_hat"]
    return {
        **{f"{kind}_cpu_s_{layout}": round(s, 4) for (kind, layout), s in med.items()},
        **ratios(med, "contiguous", "channels_last"),
        "max_abs_diff_x_hat": float((recon["contiguous"] - recon["channels_last"]).abs().max()),
    }


if __name__ == "__main__":
    main(__doc__, ["cai2022", "stf", "bmshj2018-hyperprior"], 6, compare)
