"""Figures of the defense study (Figs. 13-15, 17): robustness bars from `defense.tables.robustness`,
and the clean RD before and after AT."""

from __future__ import annotations

import pandas as pd

from advcompress.attack.plots import ci_bars
from advcompress.figure_style import figure
from advcompress.foundation.tables import rd_table


def defense_bars(summary: pd.DataFrame, attack: str, defenses: list[str], path, title: str) -> None:
    """Figs. 13, 14, 17: mu-bar(dR) and mu-bar(dD) per algorithm, one bar per defense (lower is more
    robust), with the summary's own interval over images as error bars."""
    s = summary[(summary["attack"] == attack) & summary["defense"].isin(defenses)]
    if s.empty:
        raise ValueError(f"no {attack} rows for defenses {defenses}")
    with figure(path, 1, 2, figsize=(8, 3.4)) as (fig, axes):
        for ax, (col, label) in zip(axes, [("mu_dR_actual_bpp", "mean ΔR [bpp] (actual)"),
                                           ("mu_dD_mse255", "mean ΔD [MSE, 0-255]")], strict=True):
            ci_bars(ax, s, "model", "defense", col, hue_order=[d for d in defenses if d in set(s["defense"])])
            ax.set_xlabel("")
            ax.set_ylabel(label)
            ax.tick_params(axis="x", labelrotation=20)
            bad = int(s["n_invalid"].sum())
            if bad:
                ax.text(0.02, 0.98, f"n_invalid={bad}", transform=ax.transAxes, va="top", fontsize=7, color="red")
            if ax is axes[0]:
                ax.legend(fontsize=7, title=None)
            elif ax.get_legend():
                ax.get_legend().remove()
        fig.suptitle(title)
        fig.tight_layout()


def clean_rd_before_after(clean: pd.DataFrame, labels: dict[str, dict], path, title: str) -> pd.DataFrame:
    """Fig. 15: clean RD of each algorithm before (solid) and after AT (dashed), real bitstreams."""
    import seaborn as sns

    summary = rd_table(clean)
    summary["model"] = summary["codec"].map(lambda c: labels[c]["model"])
    summary["defense"] = summary["codec"].map(lambda c: labels[c]["defense"])
    models = list(dict.fromkeys(summary["model"]))
    colors = dict(zip(models, sns.color_palette("tab10", max(len(models), 1)), strict=False))
    with figure(path, figsize=(5.5, 4)) as (_, ax):
        for (model, defense), g in summary.sort_values("bpp_actual").groupby(["model", "defense"], sort=False):
            ax.plot(g["bpp_actual"], g["psnr_db"], marker="o", ms=4, color=colors[model],
                    ls="-" if defense == "none" else "--", label=f"{model} ({'before' if defense == 'none' else defense})")
        ax.set_xlabel("rate [bpp] (actual bitstream)")
        ax.set_ylabel("PSNR [dB]")
        ax.set_title(title)
        ax.legend(fontsize=7)
        if int(summary["n_invalid"].sum()):
            ax.text(0.02, 0.98, f"n_invalid={int(summary['n_invalid'].sum())}", transform=ax.transAxes, va="top",
                    fontsize=7, color="red")
    return summary
