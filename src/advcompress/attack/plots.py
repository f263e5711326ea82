"""Figures of the RD-attack study (Figs. 3-12, 16, 18-22, the ARDA temperature ablation), drawn from
the long-form tables.

Invalid rows (NaN/inf rate or distortion, coding errors) are left out of the means and their
count is printed on every panel (`n_invalid`), so they are never hidden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from advcompress.attack.tables import (
    DELTAS,
    attacked_rows,
    delta_intervals,
    fmt_rate_psnr,
    gallery_to_display,
    per_direction,
    per_submodel,
    success_curves,
    tau_summary,
)
from advcompress.figure_style import figure
from advcompress.tables import summarise

VALID = ["bpp_actual", "mse255"]


def _colors(models):
    return dict(zip(models, sns.color_palette("tab10", max(len(models), 1)), strict=False))


def _invalid_note(ax, n):
    if n:
        ax.text(0.02, 0.98, f"n_invalid={int(n)}", transform=ax.transAxes, va="top", fontsize=7, color="red")


def ci_yerr(df: pd.DataFrame, col: str) -> np.ndarray:
    """2 x n error-bar lengths from the precomputed `<col>_lo`/`<col>_hi`, so a figure shows the
    table's own interval (not a resampling of its own); a missing bound draws no bar."""
    m = df[col].to_numpy(dtype=float)
    lo, hi = df[f"{col}_lo"].to_numpy(dtype=float), df[f"{col}_hi"].to_numpy(dtype=float)
    return np.nan_to_num(np.vstack([m - lo, hi - m]), nan=0.0).clip(min=0.0)


def ci_bars(ax, df: pd.DataFrame, x: str, hue: str, col: str, x_order=None, hue_order=None, palette=None) -> None:
    """Grouped bars of `col` by `x` and `hue`, each with its table interval as an error bar."""
    xs = list(x_order if x_order is not None else dict.fromkeys(df[x]))
    hs = list(hue_order if hue_order is not None else dict.fromkeys(df[hue]))
    colors = dict(zip(hs, sns.color_palette(palette or "tab10", max(len(hs), 1)), strict=False))
    width = 0.8 / max(len(hs), 1)
    for j, h in enumerate(hs):
        d = df[df[hue] == h].set_index(x).reindex(xs)
        pos = np.arange(len(xs)) - 0.4 + width * (j + 0.5)
        ax.bar(pos, d[col].to_numpy(dtype=float), width, color=colors[h], label=str(h))
        ax.errorbar(pos, d[col].to_numpy(dtype=float), yerr=ci_yerr(d, col), fmt="none", ecolor="black",
                    elinewidth=0.8, capsize=2)
    ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
    ax.set_xlabel(x)


def _clean_curve(rows):
    c = rows.drop_duplicates(["model", "quality", "image"])
    c = c.rename(columns={"bpp_actual_clean": "b", "psnr_db_clean": "p", "mse255_clean": "m"})
    return summarise(c.assign(error=c["error_clean"]), ["model", "quality"], ["b", "p"], validity=["b", "m"])


def rd_before_after(rows: pd.DataFrame, directions: list[str], path, title: str) -> None:
    """Figs. 4, 16: RD of every algorithm on clean (solid) and attacked (dashed) images per direction."""
    rows = attacked_rows(rows)
    models = list(dict.fromkeys(rows["model"]))
    col = _colors(models)
    clean = _clean_curve(rows)
    adv = summarise(rows, ["model", "direction", "quality"], ["bpp_actual", "psnr_db"], validity=VALID)
    n = len(directions)
    with figure(path, 1, n, figsize=(3.2 * n, 3.2), squeeze=False) as (fig, axes):
        for ax, d in zip(axes[0], directions, strict=True):
            for m in models:
                c = clean[clean["model"] == m].sort_values("quality")
                a = adv[(adv["model"] == m) & (adv["direction"] == d)].sort_values("quality")
                ax.plot(c["b"], c["p"], "-o", ms=3, color=col[m], label=m)
                ax.plot(a["bpp_actual"], a["psnr_db"], "--x", ms=4, color=col[m])
            _invalid_note(ax, adv.loc[adv["direction"] == d, "n_invalid"].sum())
            ax.set_title(d)
            ax.set_xlabel("rate [bpp] (actual)")
        axes[0, 0].set_ylabel("PSNR [dB]")
        axes[0, 0].legend(fontsize=6)
        fig.suptitle(title)


def directions_plot(rows: pd.DataFrame, directions: list[str], path, title: str, seed: int = 0) -> None:
    """Figs. 5, 6: mu(dR) and mu(dD) over submodels against the attack direction, with the 95%
    bootstrap interval over images of each mu (as in the per-direction table)."""
    pdir = per_direction(rows, seed)
    pdir["direction"] = pd.Categorical(pdir["direction"], categories=directions, ordered=True)
    with figure(path, 1, 3, figsize=(11, 3.3)) as (fig, axes):
        for ax, (c, lab) in zip(axes, [("mu_dR_actual_bpp", "mu(dR) [bpp], actual"),
                                       ("mu_dR_est_bpp", "mu(dR) [bpp], estimated"),
                                       ("mu_dD_mse255", "mu(dD) [MSE, 0-255]")], strict=True):
            for m, g in pdir.sort_values("direction").groupby("model", sort=False):
                ax.errorbar(g["direction"].astype(str), g[c], yerr=ci_yerr(g, c), fmt="-o", ms=3, capsize=2, label=m)
            ax.set_ylabel(lab)
            ax.tick_params(axis="x", rotation=45)
            _invalid_note(ax, pdir["n_invalid"].sum())
        axes[0].legend(fontsize=6)
        fig.suptitle(title)


def submodels_plot(rows: pd.DataFrame, path, title: str, seed: int = 0) -> None:
    """Figs. 7, 8: per-submodel deltas averaged over directions, with their 95% bootstrap interval
    over images (whole images resampled, all directions together)."""
    sub = per_submodel(rows, seed)
    g = sub.groupby(["model", "quality"], sort=False)
    avg = g[DELTAS].mean().join(g["n_invalid"].sum()).reset_index()
    avg = avg.merge(delta_intervals(rows, ["model", "quality"], ["direction"], seed), on=["model", "quality"], how="left")
    avg["submodel"] = avg.groupby("model")["quality"].rank(method="dense").astype(int)
    with figure(path, 1, 2, figsize=(8, 3.3)) as (fig, axes):
        for ax, (c, lab) in zip(axes, [("dR_actual_bpp", "mean dR [bpp], actual"),
                                       ("dD_mse255", "mean dD [MSE, 0-255]")], strict=True):
            ci_bars(ax, avg, "model", "submodel", c, hue_order=sorted(avg["submodel"].unique()), palette="viridis")
            ax.legend(title="submodel", fontsize=6)
            ax.set_ylabel(lab)
            ax.tick_params(axis="x", rotation=30)
            _invalid_note(ax, avg["n_invalid"].sum())
        fig.suptitle(title)


def success_plot(local: pd.DataFrame, path, title: str) -> None:
    """Figs. 9, 10: local success ratios S_R(R_T) and S_D(D_T)."""
    cur = success_curves(local)
    with figure(path, 1, 2, figsize=(8, 3.3)) as (fig, axes):
        for ax, (metric, lab) in zip(axes, [("rate", "R_T [bits per latent position]"),
                                            ("distortion", "D_T [MSE, 0-255]")], strict=True):
            for m, g in cur[cur["metric"] == metric].groupby("model", sort=False):
                ax.plot(g["threshold"], g["ratio"], "-o", ms=3, label=m)
            ax.set_xlabel(lab)
            ax.set_ylabel("S_R" if metric == "rate" else "S_D")
            ax.set_xscale("symlog", linthresh=1)
            _invalid_note(ax, cur.loc[cur["metric"] == metric, "n_nonfinite"].sum())
        axes[0].legend(fontsize=6)
        fig.suptitle(title)


def transfer_plot(rows: pd.DataFrame, source_index: int, path) -> None:
    """Fig. 3: SRDA images crafted for one submodel, coded by every submodel of the algorithm."""
    models = list(dict.fromkeys(rows["model"]))
    with figure(path, 1, len(models), figsize=(3.4 * len(models), 3.3), squeeze=False) as (fig, axes):
        clean = _clean_curve(rows)
        for ax, m in zip(axes[0], models, strict=True):
            r = rows[rows["model"] == m]
            qs = sorted(r["quality"].unique())
            src = str(qs[source_index])
            c = clean[clean["model"] == m].sort_values("quality")
            ax.plot(c["b"], c["p"], "-ok", ms=3, label="clean")
            t = summarise(r[r["attacked_quality"].astype(str) == src], ["direction", "quality"],
                          ["bpp_actual", "psnr_db"], validity=VALID)
            for d, g in t.groupby("direction", sort=False):
                ax.plot(g.sort_values("quality")["bpp_actual"], g.sort_values("quality")["psnr_db"], "--x", ms=4, label=d)
            _invalid_note(ax, t["n_invalid"].sum())
            ax.set_title(f"{m}: crafted for q{src}")
            ax.set_xlabel("rate [bpp] (actual)")
        axes[0, 0].set_ylabel("PSNR [dB]")
        axes[0, 0].legend(fontsize=6)


def latents_plot(lat: pd.DataFrame, path, title: str) -> None:
    """Figs. 12, 18: per-channel range (min..max) of each latent feature, clean vs adversarial,
    pooled over submodels (and images)."""
    g = lat.groupby(["model", "feature", "direction", "channel"], sort=False)
    rng = g["min"].min().to_frame().join(g["max"].max()).reset_index()
    models = list(dict.fromkeys(rng["model"]))
    feats = [f for f in ["y_hat", "mu", "sigma2", "z_hat", "context"] if f in set(rng["feature"])]
    states = list(dict.fromkeys(["clean", *rng["direction"]]))
    pal = dict(zip(states, ["#4c72b0", "#dd8452", "#c44e52", "#55a868", "#8172b3", "#937860", "#da8bc3"], strict=False))
    with figure(path, len(models), len(feats), figsize=(3 * len(feats), 2.2 * len(models)),
                squeeze=False) as (fig, axes):
        for i, m in enumerate(models):
            for j, f in enumerate(feats):
                ax = axes[i, j]
                for st in reversed(states):
                    s = rng[(rng["model"] == m) & (rng["feature"] == f) & (rng["direction"] == st)]
                    if len(s):
                        ax.fill_between(s["channel"], s["min"], s["max"], step="mid", alpha=0.45,
                                        color=pal[st], label=st)
                if i == 0:
                    ax.set_title(f)
                if j == 0:
                    ax.set_ylabel(m, fontsize=7)
                if not ax.has_data():
                    ax.set_axis_off()
        axes[0, 0].legend(fontsize=6)
        fig.suptitle(title)


def _tile(ax, img, text):
    ax.imshow(gallery_to_display(img))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(text, fontsize=6)


def gallery_plot(rows: pd.DataFrame, galleries: dict, path, by: str, fixed, title: str, image: str,
                 directions: list[str] | None = None) -> None:
    """Figs. 19-22: reconstructions of adversarial images with their bpp and PSNR.

    `by` = "direction" (one submodel `fixed`, every direction) or "quality" (one direction
    `fixed`, every submodel). NaN pixels are drawn as 255 (white), as in the paper.
    """
    models = list(galleries)
    r = attacked_rows(rows)
    r = r[r["image"] == image]
    qualities = {m: sorted(r[r["model"] == m]["quality"].unique()) for m in models}
    if by == "direction":
        present = set(r[r["model"] == models[0]]["direction"])
        cols = [d for d in (directions or sorted(present)) if d in present]
    else:  # one column per submodel index: models may have different numbers of submodels
        cols = list(range(max(len(qs) for qs in qualities.values())))
    with figure(path, len(models), len(cols), figsize=(1.9 * len(cols), 2.1 * len(models)), squeeze=False,
                themed=False) as (fig, axes):
        for i, m in enumerate(models):
            rm = r[r["model"] == m]
            qs = qualities[m]
            for j, c in enumerate(cols):
                ax = axes[i, j]
                if by == "quality" and j >= len(qs):
                    ax.set_axis_off()
                    continue
                q, d = (qs[fixed], c) if by == "direction" else (qs[j], fixed)
                hit = rm[(rm["quality"] == q) & (rm["direction"] == d)]
                img = galleries[m].get(f"recon/q{q}/{d}")
                if img is None or hit.empty:
                    ax.set_axis_off()
                    ax.set_title("coding failed" if not hit.empty else "", fontsize=6)
                    continue
                _tile(ax, img, fmt_rate_psnr(float(hit["bpp_actual"].iloc[0]), float(hit["psnr_db"].iloc[0])))
                if by == "quality":
                    ax.set_title(f"q{q}", fontsize=7)
                elif i == 0:
                    ax.set_title(d, fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"{m}\nq{q}" if by == "direction" else m, fontsize=6)
        fig.suptitle(title, fontsize=8)


def masks_plot(galleries: dict[str, dict], direction: str, threshold: float, path) -> None:
    """Fig. 11: reconstructions under SRDA and ARDA with pixels where dD > D_T in red (success)
    and the rest in blue (failure); one row per algorithm and submodel."""
    attacks = list(galleries)
    models = list(galleries[attacks[0]])
    rows = []
    for m in models:
        qs = sorted({int(k.split("/")[1][1:]) for k in galleries[attacks[0]][m] if k.startswith("ddist/")})
        rows += [(m, q) for q in qs]
    with figure(path, len(rows), 1 + len(attacks), figsize=(2 * (1 + len(attacks)), 2 * len(rows)), squeeze=False,
                themed=False) as (fig, axes):
        for i, (m, q) in enumerate(rows):
            g0 = galleries[attacks[0]][m]
            clean = g0.get(f"recon_clean/q{q}")
            if clean is not None:
                _tile(axes[i, 0], clean, "clean reconstruction")
            axes[i, 0].set_ylabel(f"{m}\nq{q}", fontsize=6)
            for j, a in enumerate(attacks, start=1):
                g = galleries[a][m]
                rec, dd = g.get(f"recon/q{q}/{direction}"), g.get(f"ddist/q{q}/{direction}")
                ax = axes[i, j]
                if rec is None or dd is None:
                    ax.set_axis_off()
                    continue
                img = gallery_to_display(rec)
                ok = np.asarray(dd, dtype=np.float32) > threshold
                overlay = np.where(ok[..., None], [1.0, 0.0, 0.0], [0.0, 0.3, 1.0])
                ax.imshow(0.55 * img + 0.45 * overlay)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_xlabel(f"{a}: {ok.mean():.0%} > {threshold:g}", fontsize=6)


# -- the ARDA temperature ablation (figures/attack/arda_tau) --------------------------------------

TAU_PANELS = [("mu_dR_actual_bpp", "mu(dR) [bpp], actual"), ("mu_dD_mse255", "mu(dD) [MSE, 0-255]"),
          ("w_max_mean", "largest ARDA weight, mean over steps")]


def tau_plot(rows: pd.DataFrame, directions: list[str], path, seed: int = 0) -> None:
    """Per model a row of three panels against the direction, one bar per tau rule with its 95%
    interval over images: mu(dR), mu(dD) and the mean largest weight (dashed: 1/K, uniform)."""
    s = tau_summary(rows, seed)
    models = list(dict.fromkeys(s["model"]))
    rules = list(dict.fromkeys(rows["tau_rule"]))
    order = [d for d in directions if d in set(s["direction"])]
    with figure(path, len(models), 3, figsize=(12, 3.4 * len(models)), squeeze=False) as (fig, axes):
        for row, model in zip(axes, models, strict=True):
            m = s[s["model"] == model]
            for ax, (col, label) in zip(row, TAU_PANELS, strict=True):
                ci_bars(ax, m, "direction", "tau_rule", col, x_order=order, hue_order=rules)
                ax.set_ylabel(label)
                ax.set_title(f"{model} ({int(m['n_submodels'].iloc[0])} submodels)", fontsize=8)
                ax.tick_params(axis="x", rotation=45)
            row[2].axhline(float(m["uniform"].iloc[0]), ls="--", color="grey", lw=0.8)
            row[2].set_ylim(0, 1.02)  # a weight's whole range: 1/K (dashed) is uniform, 1 one submodel alone
            n_invalid = int(m["n_invalid"].sum())
            if n_invalid:
                row[0].text(0.02, 0.98, f"n_invalid={n_invalid}", transform=row[0].transAxes, va="top",
                            fontsize=7, color="red")
        axes[0, 0].legend(fontsize=6, title="ARDA tau", title_fontsize=6)
        fig.suptitle("ARDA temperature: tau = gamma_d uses each direction's distortion weight (none for gamma_d = 0)")
