"""The foundation's tables: the clean RD table (`rd_clean`) and BD-PSNR/BD-rate against an anchor
codec (`rd_bd`), from the clean-compression rows (pandas and numpy only)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advcompress.tables import summarise, valid_mask


def rd_table(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean per codec and quality over valid images; rate and PSNR with a bootstrap interval over images."""
    from advcompress.stats import mean_ci

    by = ["codec", "family", "quality"]
    cols = ["bpp_est", "bpp_actual", "mse255", "psnr_db", "ms_ssim", "encode_s", "decode_s"]
    out = summarise(df, by, cols, validity=["bpp_actual", "mse255"])
    valid = df[valid_mask(df, ["bpp_actual", "mse255"])]
    ci = mean_ci(valid, by, ["bpp_actual", "psnr_db"], unit="image", seed=seed)
    ci = ci.drop(columns=["bpp_actual", "psnr_db"]).rename(columns={"n": "n_images"})
    out = out.merge(ci, on=by, how="left")
    return out.sort_values(["family", "codec", "bpp_actual"]).reset_index(drop=True)


def _ladder(df: pd.DataFrame, images: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bpp, psnr) as quality x image matrices over `images` (NaN where a row is invalid)."""
    ok = df.assign(_ok=valid_mask(df, ["bpp_actual", "psnr_db"]))
    ok = ok[ok["_ok"]]
    bpp = ok.pivot_table(index="quality", columns="image", values="bpp_actual").reindex(columns=images)
    psnr = ok.pivot_table(index="quality", columns="image", values="psnr_db").reindex(columns=images)
    return bpp.to_numpy(), psnr.to_numpy(), bpp.index.to_numpy()


def _weighted_means(m: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Means of each row of `m` over images weighted by bootstrap counts `w` (NaNs skipped)."""
    ok = np.isfinite(m)
    return (np.where(ok, m, 0.0) @ w.T) / np.maximum(ok.astype(float) @ w.T, 1e-12)


def rd_bd(df: pd.DataFrame, anchor: str = "jpeg", seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """BD-PSNR and BD-rate of every codec against `anchor`, with a paired 95% bootstrap over images.

    Each resample draws one set of evaluation images and recomputes both codecs' mean ladders on
    it, so the interval is about the images, not about the fit. Overlap only: a codec whose rate
    range does not meet the anchor's gets NaN (no extrapolation).
    """
    from advcompress.bjontegaard import bd_many, bd_psnr, bd_rate, overlap_bpp
    from advcompress.stats import LEVEL, group_seed

    if anchor not in set(df["codec"]):
        raise ValueError(f"the anchor codec {anchor!r} has no clean rows")
    images = sorted(set(df["image"]))
    ab, ap, _ = _ladder(df[df["codec"] == anchor], images)
    rows = []
    for (codec, family), g in df.groupby(["codec", "family"], sort=True):
        if codec == anchor:
            continue
        cb, cp, qs = _ladder(g, images)
        ones = np.ones((1, len(images)))
        point = [m.ravel() for m in (_weighted_means(ab, ones), _weighted_means(ap, ones),
                                     _weighted_means(cb, ones), _weighted_means(cp, ones))]
        rng = np.random.Generator(np.random.PCG64(group_seed(seed, codec, anchor)))
        w = rng.multinomial(len(images), [1 / len(images)] * len(images), size=n_boot).astype(float)
        boots = [_weighted_means(m, w) for m in (ab, ap, cb, cp)]
        bp, br = bd_many(*(b.T for b in boots))
        lo_bpp, hi_bpp = overlap_bpp(point[0], point[2])
        row = {"codec": codec, "family": family, "anchor": anchor, "n_images": len(images),
               "qualities": " ".join(str(q) for q in qs), "overlap_bpp_lo": lo_bpp, "overlap_bpp_hi": hi_bpp}
        for name, value, dist in [("bd_psnr_db", bd_psnr(*point), bp), ("bd_rate_pct", bd_rate(*point), br)]:
            # Resamples without an overlap have no delta; an interval over the others would be
            # conditional on overlapping, so it is only given when the point itself has one.
            finite = dist[np.isfinite(dist)]
            ok = math.isfinite(value) and finite.size
            lo, hi = np.quantile(finite, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]) if ok else (math.nan, math.nan)
            row |= {name: value, f"{name}_lo": float(lo), f"{name}_hi": float(hi)}
        row["boot_overlap"] = float(np.isfinite(bp).mean())
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["family", "bd_psnr_db"], ascending=[True, False]).reset_index(drop=True)
