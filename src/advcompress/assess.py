"""Multi-granularity assessment of RD attacks (Sec. V): global deltas, local maps, success ratios,
latent statistics.

Local maps (Eq. 7):
- rate map: estimated bits per latent position of y_hat (sum over channels of -log2 of the
  eval-mode likelihoods, i.e. real rounding), plus the bits of every coarser latent (z_hat) spread
  evenly over the y_hat positions its footprint covers. The map sums to the image's estimated bits,
  so sum / (H * W) = bpp_est. The actual bitstream cannot be split by position; this is the only
  local rate the entropy model defines.
- distortion map: per-pixel squared error on the 0-255 scale, averaged over colour channels, of the
  decoded reconstruction (real bitstream); its mean is the image's mse255.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from advcompress.evaluate import code_image
from advcompress.metrics import PEAK


def rate_map_bits(likelihoods: dict) -> torch.Tensor:
    """B x h x w bits per position of the finest latent grid (see module docstring)."""
    maps = [(-torch.log2(lik)).sum(1) for lik in likelihoods.values() if lik.dim() == 4]
    if not maps:
        raise ValueError("no 4-D likelihoods to map")
    th, tw = max((m.shape[-2:] for m in maps), key=lambda s: s[0] * s[1])
    total = torch.zeros(maps[0].shape[0], th, tw, dtype=maps[0].dtype, device=maps[0].device)
    for m in maps:
        h, w = m.shape[-2:]
        if th % h or tw % w:
            raise ValueError(f"latent grid {h}x{w} does not tile the finest grid {th}x{tw}")
        fh, fw = th // h, tw // w
        total = total + m.repeat_interleave(fh, 1).repeat_interleave(fw, 2) / (fh * fw)
    return total


@torch.no_grad()
def rate_map(codec, x: torch.Tensor) -> torch.Tensor:
    """Rate map of `x` through the codec's eval-mode entropy model (no proxy)."""
    return rate_map_bits(codec.forward(x)["likelihoods"])


def distortion_map(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """B x H x W squared error on the 0-255 scale, channel mean; its spatial mean is mse255."""
    return (PEAK**2) * (x_hat - x).pow(2).mean(1)


def success_ratio(delta_map: torch.Tensor, thresholds) -> np.ndarray:
    """Eq. 8: fraction of elements with delta > T for each threshold T (NaN elements count as
    failures of the comparison but stay in the denominator; callers also record n_invalid)."""
    d = delta_map.flatten().double()
    return np.array([float((d > t).sum()) / d.numel() for t in thresholds])


def assess_image(codec, x_in: torch.Tensor, x_ref: torch.Tensor | None = None) -> tuple[dict, dict]:
    """Real coding of one image plus its local maps.

    Returns (row, maps): the row of `evaluate.code_image` (bpp_est, bpp_actual, mse255 against the
    coded input, ...) plus `mse255_vs_ref` (against `x_ref`, e.g. the clean image) and the map
    totals; maps = {"rate": h x w bits, "dist": H x W, "x_hat": 1 x C x H x W or None}.
    """
    row, x_hat = code_image(codec, x_in)
    rmap = rate_map(codec, x_in)[0] if codec.differentiable else None
    if x_hat is None:
        dmap = torch.full(x_in.shape[-2:], math.nan)
    else:
        dmap = distortion_map(x_hat, x_in)[0]
    row["rate_map_bits"] = float(rmap.sum()) if rmap is not None else math.nan
    row["mse255_vs_ref"] = (
        float((PEAK**2) * (x_hat - x_ref).pow(2).mean()) if x_ref is not None and x_hat is not None else math.nan
    )
    return row, {"rate": rmap, "dist": dmap, "x_hat": x_hat}


# -- latent statistics (Figs. 12, 18) -------------------------------------------------------------


@torch.no_grad()
def latent_features(codec, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """y_hat, mu, sigma^2, z_hat and context features seen by the entropy model in eval mode.

    Found by hooks, so any architecture built from CompressAI's entropy models works: a
    GaussianConditional's inputs give y_hat = round(y - mu) + mu, mu and sigma^2 (in the entropy
    model's coordinates: variable-rate models scale them by their gain); an EntropyBottleneck's
    output is z_hat, or y_hat when there is no Gaussian conditional (factorized prior); a module
    named `*context_prediction` gives the context features. Features a model lacks are absent.
    Models that call an entropy model once per channel slice are concatenated along channels.
    """
    seen: dict[str, list] = {"y_gc": [], "mu": [], "sigma2": [], "eb": [], "context": []}
    hooks = []
    for name, mod in codec.net.named_modules():
        if isinstance(mod, GaussianConditional):
            def gc_hook(_m, args, kwargs, _out):
                y = args[0]
                scales = args[1] if len(args) > 1 else kwargs.get("scales")
                means = args[2] if len(args) > 2 else kwargs.get("means")
                mu = means if means is not None else torch.zeros_like(y)
                seen["y_gc"].append(torch.round(y - mu) + mu)
                if means is not None:  # scale-only hyperpriors have no mean
                    seen["mu"].append(mu)
                seen["sigma2"].append(scales.pow(2))
            hooks.append(mod.register_forward_hook(gc_hook, with_kwargs=True))
        elif isinstance(mod, EntropyBottleneck):
            hooks.append(mod.register_forward_hook(lambda _m, _a, out: seen["eb"].append(out[0])))
        elif name.endswith("context_prediction"):
            hooks.append(mod.register_forward_hook(lambda _m, _a, out: seen["context"].append(out)))
    try:
        codec.forward(x)
    finally:
        for h in hooks:
            h.remove()
    feats = {}
    if seen["y_gc"]:
        feats["y_hat"] = torch.cat(seen["y_gc"], 1)
        if seen["mu"]:
            feats["mu"] = torch.cat(seen["mu"], 1)
        feats["sigma2"] = torch.cat(seen["sigma2"], 1)
        if seen["eb"]:
            feats["z_hat"] = torch.cat(seen["eb"], 1)
    elif seen["eb"]:
        feats["y_hat"] = torch.cat(seen["eb"], 1)
    if seen["context"]:
        feats["context"] = torch.cat(seen["context"], 1)
    return feats


def channel_ranges(feats: dict[str, torch.Tensor]) -> list[dict]:
    """Per feature and channel: min and max over batch and positions (NaN-aware)."""
    rows = []
    for name, t in feats.items():
        flat = t.transpose(0, 1).flatten(1).double()
        finite = torch.isfinite(flat)
        lo = torch.where(finite, flat, torch.full_like(flat, math.inf)).min(1).values
        hi = torch.where(finite, flat, torch.full_like(flat, -math.inf)).max(1).values
        for c in range(flat.shape[0]):
            rows.append({"feature": name, "channel": c, "min": float(lo[c]), "max": float(hi[c]),
                         "n_nonfinite": int((~finite[c]).sum())})
    return rows
