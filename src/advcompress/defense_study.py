"""The defense study's tables and figures (Table III, Figs. 13-15, 17), from the attack study's rows.

Every defended codec is attacked by the attack study's own job, so its rows have the same columns
as the undefended model's. `labels` maps each codec name in the rows to its base model and the
defense it carries ("none", "AT", "online", "AT + online"; AT with SRA/SDA/SRDA samples for
Table III). mu-bar is the mean over directions of the mean over submodels of the per-image deltas
(the attack study's `per_direction`), so invalid rows are counted (`n_invalid`), never averaged.
Each mu-bar carries its 95% bootstrap interval over images (whole images resampled with all their
directions and submodels) and `n_images`; the bar figures draw exactly those intervals.
"""

from __future__ import annotations

import pandas as pd

from advcompress.attack.tables import DELTAS, delta_intervals, mu_columns, per_direction
from advcompress.figure_style import figure
from advcompress.tables import rd_table

MU = [f"mu_{d}" for d in DELTAS]


def robustness(rows: pd.DataFrame, labels: dict[str, dict], seed: int = 0) -> pd.DataFrame:
    """One row per (base model, defense, attack): mu-bar of dR (actual, estimated) and dD, each with
    its interval over images (`_lo`, `_hi`), and `n_images`."""
    unknown = set(rows["model"]) - set(labels)
    if unknown:
        raise ValueError(f"rows of codecs without a defense label: {sorted(unknown)}")
    pdir = per_direction(rows, seed)
    g = pdir.groupby(["model", "attack"], sort=False)
    out = g[MU].mean().join(g[["n_rows", "n_invalid"]].sum()).reset_index()
    ci = delta_intervals(rows, ["model", "attack"], ["direction", "quality"], seed, prefix="mu_")
    out = out.merge(ci, on=["model", "attack"], how="left")
    out = out[["model", "attack", *mu_columns(), "n_images", "n_rows", "n_invalid"]].rename(columns={"model": "codec"})
    out.insert(0, "defense", out["codec"].map(lambda c: labels[c]["defense"]))
    out.insert(0, "model", out["codec"].map(lambda c: labels[c]["model"]))
    return out


def table3(summary: pd.DataFrame, samples: dict[str, str]) -> pd.DataFrame:
    """Table III: mu-bar(dR), mu-bar(dD) under SRDA after AT with each kind of samples, per model.

    `samples` maps the defense label of each AT variant to its sample kind (e.g. "AT-sra" -> "sra");
    the column groups are named `at_<kind>_...`, after a `none_...` group (before AT) for reference.
    """
    groups = {"none": "none"} | {label: f"at_{kind}" for label, kind in samples.items()}
    s = summary[(summary["attack"] == "srda") & summary["defense"].isin(groups)]
    cols = [*mu_columns(), "n_images", "n_rows", "n_invalid"]
    out = None
    for label, prefix in groups.items():
        part = s[s["defense"] == label].set_index("model")[cols].add_prefix(f"{prefix}_")
        out = part if out is None else out.join(part, how="outer")
    return out.reset_index()


def defense_bars(summary: pd.DataFrame, attack: str, defenses: list[str], path, title: str) -> None:
    """Figs. 13, 14, 17: mu-bar(dR) and mu-bar(dD) per algorithm, one bar per defense (lower is more
    robust), with the summary's own interval over images as error bars."""
    from advcompress.attack.plots import ci_bars

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
