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
    with torch.no_grad():
        out = codec.forward(x_in) if codec.differentiable else None  # one pass for bpp_est and the rate map
    row, x_hat = code_image(codec, x_in, forward=out)
    rmap = rate_map_bits(out["likelihoods"])[0] if out is not None else None
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


def _is_context_module(name: str, mod: torch.nn.Module, modules: dict) -> bool:
    """A module named `*context_prediction`, or one element of a ModuleList of that name (one
    context model per channel group, as ELIC's)."""
    parent, _, leaf = name.rpartition(".")
    if leaf == "context_prediction":
        return not isinstance(mod, (torch.nn.ModuleList, torch.nn.ModuleDict))
    in_list = isinstance(modules.get(parent), torch.nn.ModuleList)
    return in_list and parent.rpartition(".")[2] == "context_prediction"


@torch.no_grad()
def latent_features(codec, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """y_hat, mu, sigma^2, z_hat and context features seen by the entropy model in eval mode.

    Read from CompressAI's entropy models while `codec.forward(x)` runs, so any architecture
    built from them works. Every Gaussian likelihood of a GaussianConditional is captured at its
    `_likelihood` call (inside `forward`, or called directly as Cai2022's eval path does): its
    arguments are y_hat (the quantised latent the rate is computed on: round(y - mu) + mu, or
    round(y) where the coder centres on round(mu), as Cai2022), mu (the mean the Gaussian is
    evaluated at, so Cai2022's rounded mean; absent for scale-only hyperpriors) and the scale, reported as sigma^2 after the entropy model's lower
    bound (the variance the rate is computed with). Features are in the entropy model's
    coordinates: variable-rate models scale them by their gain. An EntropyBottleneck's output is
    z_hat, or y_hat when the model has no Gaussian conditional (factorized prior). A module named
    `*context_prediction` (or each element of a ModuleList of that name) gives the context
    features. Features a model lacks are absent. Models that call an entropy model once per
    channel slice are concatenated along channels in call order.
    """
    seen: dict[str, list] = {"y_gc": [], "mu": [], "sigma2": [], "eb": [], "context": []}
    hooks, patched = [], []
    modules = dict(codec.net.named_modules())
    has_gc = False
    for name, mod in modules.items():
        if isinstance(mod, GaussianConditional):
            has_gc = True

            def likelihood(inputs, scales, means=None, _mod=mod, _orig=mod._likelihood):
                seen["y_gc"].append(inputs)
                if means is not None:  # scale-only hyperpriors have no mean
                    seen["mu"].append(means)
                seen["sigma2"].append(_mod.lower_bound_scale(scales).pow(2))
                return _orig(inputs, scales, means)

            patched.append((mod, mod.__dict__.get("_likelihood")))
            mod._likelihood = likelihood
        elif isinstance(mod, EntropyBottleneck):
            hooks.append(mod.register_forward_hook(lambda _m, _a, out: seen["eb"].append(out[0])))
        elif _is_context_module(name, mod, modules):
            hooks.append(mod.register_forward_hook(lambda _m, _a, out: seen["context"].append(out)))
    try:
        codec.forward(x)
    finally:
        for h in hooks:
            h.remove()
        for mod, previous in patched:
            del mod._likelihood
            if previous is not None:
                mod._likelihood = previous
    if has_gc and not seen["y_gc"]:
        raise RuntimeError(
            f"{type(codec.net).__name__} has a GaussianConditional whose likelihood its forward "
            "never evaluated; its latent features cannot be read (z_hat would pass for y_hat)"
        )
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
