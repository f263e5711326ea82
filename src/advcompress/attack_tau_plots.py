"""The ARDA temperature ablation figure (figures/attack/arda_tau), from the ablation's long rows."""

from __future__ import annotations

import pandas as pd

from advcompress.attack_plots import ci_bars
from advcompress.attack_tables import tau_summary
from advcompress.figure_style import figure

PANELS = [("mu_dR_actual_bpp", "mu(dR) [bpp], actual"), ("mu_dD_mse255", "mu(dD) [MSE, 0-255]"),
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
            for ax, (col, label) in zip(row, PANELS, strict=True):
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
