"""CompressAI's GDN against `MatmulGDN` (the project's GDN layers): CPU seconds per step.

    .venv/bin/python benchmark/gdn.py [--models bmshj2018-factorized bmshj2018-hyperprior mbt2018]
                                      [--batch 16] [--patch 64] [--steps 15] [--repeats 3] [--threads 1]

For each default-tier GDN model at its default widths it times, on `--threads` threads (one, as
every job), a training step and an attack step (`benchmark/steps.py`) with the layers computed by
CompressAI's GDN and by `MatmulGDN`; prints the medians, their ratio (above 1: MatmulGDN is
cheaper), and the largest difference of the two layers' reconstructions on the same weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from compressai.layers import GDN

from advcompress.codecs import make_codec
from advcompress.codecs.learned import MatmulGDN

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.steps import attack_step_s, interleaved_medians, main, ratios, train_step_s  # noqa: E402

DEFAULT_WIDTHS = {"N": 64, "M": 96}


def set_gdn(net: torch.nn.Module, cls: type) -> None:
    for m in net.modules():
        if type(m) in (GDN, MatmulGDN):
            m.__class__ = cls


def compare(name: str, a, x: torch.Tensor) -> dict:
    torch.manual_seed(0)
    codec = make_codec(name, 4, weights="untrained", widths=DEFAULT_WIDTHS)
    opt = torch.optim.Adam(codec.parameters(), 1e-4)
    med = interleaved_medians(
        {cls.__name__: (lambda cls=cls: set_gdn(codec, cls)) for cls in (GDN, MatmulGDN)},
        lambda: {"train": train_step_s(codec, x, opt, a.steps), "attack": attack_step_s(codec, x, a.steps)},
        a.repeats,
    )
    codec.eval()
    recon = {}
    for cls in (GDN, MatmulGDN):
        set_gdn(codec, cls)
        with torch.no_grad():
            recon[cls] = codec.forward(x)["x_hat"]
    return {
        **{f"{kind}_cpu_s_{variant}": round(s, 4) for (kind, variant), s in med.items()},
        **ratios(med, "GDN", "MatmulGDN"),
        "max_abs_diff_x_hat": float((recon[GDN] - recon[MatmulGDN]).abs().max()),
    }


if __name__ == "__main__":
    main(__doc__, ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018"], 15, compare)
