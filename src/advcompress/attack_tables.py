"""Aggregates of the RD-attack study's long tables: Table II, Figs. 5-10 (pandas and numpy only).

Kept apart from `attack_study` (which runs attacks) so the table and figure jobs start without
torch and CompressAI.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advcompress.tables import summarise

DELTAS = ["dR_actual_bpp", "dR_est_bpp", "dD_mse255"]


def attacked_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows where the adversarial image is coded by the submodel(s) it was crafted for."""
    return rows[~rows["transfer"].astype(bool)]


def per_submodel(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean deltas over images per model, attack, direction and submodel, with n_invalid."""
    return summarise(attacked_rows(rows), ["model", "attack", "direction", "quality"], DELTAS,
                     validity=["bpp_actual", "mse255", "bpp_actual_clean", "mse255_clean"])


def per_direction(rows: pd.DataFrame) -> pd.DataFrame:
    """mu and sigma over submodels of the per-submodel mean deltas (Figs. 5, 6)."""
    sub = per_submodel(rows)
    g = sub.groupby(["model", "attack", "direction"], sort=False)
    out = g[DELTAS].mean().add_prefix("mu_").join(g[DELTAS].std(ddof=0).add_prefix("sigma_"))
    counts = g[["n_rows", "n_invalid"]].sum()
    return out.join(counts).reset_index()


def table2(rows: pd.DataFrame) -> pd.DataFrame:
    """Table II: mu and sigma over submodels, averaged over directions; one row per model, one
    column group per attack. Submodel deltas are means over valid images; sigma is the
    population standard deviation over submodels."""
    pdir = per_direction(rows)
    cols = [f"mu_{d}" for d in DELTAS] + [f"sigma_{d}" for d in DELTAS]
    g = pdir.groupby(["model", "attack"], sort=False)
    long = g[cols].mean().join(g[["n_rows", "n_invalid"]].sum()).reset_index()
    wide = long.pivot(index="model", columns="attack")
    wide.columns = [f"{a}_{c}" for c, a in wide.columns]
    attacks = list(dict.fromkeys(long["attack"]))
    order = [f"{a}_{c}" for a in attacks for c in [*cols, "n_rows", "n_invalid"]]
    return wide[order].reset_index()


def success_curves(local: pd.DataFrame) -> pd.DataFrame:
    """Figs. 9, 10: mean local success ratio over images, submodels and directions per threshold."""
    g = local.groupby(["model", "attack", "metric", "threshold"], sort=False)
    return g["ratio"].mean().to_frame().join(g["n_nonfinite"].sum()).reset_index()


def gallery_to_display(img: np.ndarray) -> np.ndarray:
    """HxWxC for display; NaN becomes 255 (white) as the paper's galleries do: galleries only."""
    a = np.asarray(img, dtype=np.float32)
    a = np.where(np.isfinite(a), a, 1.0)
    return np.clip(a, 0, 1).transpose(1, 2, 0)


def fmt_rate_psnr(bpp: float, psnr: float) -> str:
    def f(v, spec):
        return "NaN" if v is None or not math.isfinite(v) else format(v, spec)

    return f"{f(bpp, '.3f')} bpp / {f(psnr, '.2f')} dB"
