"""Aggregates of the RD-attack study's long tables: Table II, Figs. 5-10 (pandas and numpy only).

Kept apart from `attack.run` (which runs attacks) so the table and figure jobs start without
torch and CompressAI.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advcompress.stats import mean_ci, nested_mean_ci
from advcompress.tables import summarise, valid_mask

DELTAS = ["dR_actual_bpp", "dR_est_bpp", "dD_mse255"]
VALIDITY = ["bpp_actual", "mse255", "bpp_actual_clean", "mse255_clean"]


def attacked_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows where the adversarial image is coded by the submodel(s) it was crafted for."""
    return rows[~rows["transfer"].astype(bool)]


def delta_intervals(rows: pd.DataFrame, by: list[str], levels: list[str], seed: int = 0,
                    prefix: str = "") -> pd.DataFrame:
    """Per group: `n_images` and the 95% bootstrap interval over images of each mean delta.

    The statistic is the tables' own: a mean over `levels` (e.g. direction, then submodel) of
    per-cell means over valid images; a replicate resamples whole images, so an image's rows under
    every submodel and direction move together. Invalid rows are left out as in the means.
    """
    a = attacked_rows(rows)
    ok = valid_mask(a, VALIDITY)
    a = a.assign(**{d: a[d].where(ok) for d in DELTAS})
    ci = nested_mean_ci(a, by, DELTAS, "image", levels, seed=seed).rename(columns={"n": "n_images"})
    ci = ci.drop(columns=DELTAS)  # the tables keep their own means; these are the same statistic
    return ci.rename(columns={f"{d}_{e}": f"{prefix}{d}_{e}" for d in DELTAS for e in ("lo", "hi")})


def per_submodel(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean deltas over images per model, attack, direction and submodel, with n_invalid, n_images
    and their intervals over images (`<delta>_lo`, `<delta>_hi`)."""
    by = ["model", "attack", "direction", "quality"]
    out = summarise(attacked_rows(rows), by, DELTAS, validity=VALIDITY)
    return out.merge(delta_intervals(rows, by, [], seed), on=by, how="left")


def per_direction(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """mu and sigma over submodels of the per-submodel mean deltas (Figs. 5, 6), with the interval
    of each mu over images (`mu_<delta>_lo`, `mu_<delta>_hi`) and `n_images`."""
    by = ["model", "attack", "direction"]
    sub = per_submodel(rows, seed)
    g = sub.groupby(by, sort=False)
    out = g[DELTAS].mean().add_prefix("mu_").join(g[DELTAS].std(ddof=0).add_prefix("sigma_"))
    counts = g[["n_rows", "n_invalid"]].sum()
    out = out.join(counts).reset_index()
    return out.merge(delta_intervals(rows, by, ["quality"], seed, prefix="mu_"), on=by, how="left")


def mu_columns(with_ci: bool = True) -> list[str]:
    """mu of every delta, each followed by its interval bounds."""
    return [c for d in DELTAS for c in ([f"mu_{d}", f"mu_{d}_lo", f"mu_{d}_hi"] if with_ci else [f"mu_{d}"])]


def proxies(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The gradient proxy (or proxies) each group's attacks used, as one text column `proxy`."""
    if "proxy" not in rows:
        return rows[by].drop_duplicates().assign(proxy="")
    p = attacked_rows(rows).groupby(by, sort=False)["proxy"]
    return p.agg(lambda v: "+".join(sorted(set(map(str, v.dropna()))))).reset_index()


def table2(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Table II: mu and sigma over submodels, averaged over directions; one row per model, one
    column group per attack. Submodel deltas are means over valid images; sigma is the
    population standard deviation over submodels. Each mu carries its 95% bootstrap interval over
    images (`_lo`, `_hi`, resampling whole images) and `n_images`; `proxy` names the gradient
    proxy the attacks used."""
    pdir = per_direction(rows, seed)
    mus = [f"mu_{d}" for d in DELTAS]
    sigmas = [f"sigma_{d}" for d in DELTAS]
    g = pdir.groupby(["model", "attack"], sort=False)
    long = g[mus + sigmas].mean().join(g[["n_rows", "n_invalid"]].sum()).reset_index()
    ci = delta_intervals(rows, ["model", "attack"], ["direction", "quality"], seed, prefix="mu_")
    long = long.merge(ci, on=["model", "attack"], how="left")
    cols = [*mu_columns(), *sigmas, "n_images", "n_rows", "n_invalid"]
    wide = long.pivot(index="model", columns="attack")
    wide.columns = [f"{a}_{c}" for c, a in wide.columns]
    attacks = list(dict.fromkeys(long["attack"]))
    order = [f"{a}_{c}" for a in attacks for c in cols]
    proxy = proxies(rows, ["model"]).set_index("model")["proxy"]
    out = wide[order].reset_index()
    out.insert(1, "proxy", out["model"].map(proxy).fillna(""))
    return out


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


def tau_summary(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The ARDA temperature ablation per model, tau rule and direction: `tau`, mu over submodels of
    each delta with its interval over images (`per_direction`'s statistic), and the largest ARDA
    weight, mean over the steps (`w_max_mean`) and at the last step (`w_max_final`), as a mean over
    images with its interval; `uniform` = 1/K is where equal weights would sit."""
    by = ["model", "tau_rule", "direction"]
    pdir = per_direction(rows.assign(attack=rows["tau_rule"]), seed).rename(columns={"attack": "tau_rule"})
    sample = rows.drop_duplicates(["model", "tau_rule", "direction", "image"])
    w = mean_ci(sample, by, ["w_max_mean", "w_max_final"], unit="image", seed=seed).drop(columns="n")
    facts = sample.groupby(by, sort=False).agg(tau=("tau", "first"), n_submodels=("n_submodels", "first"))
    out = pdir.merge(w, on=by, how="left").merge(facts.reset_index(), on=by, how="left")
    return out.assign(uniform=1.0 / out["n_submodels"])
