"""Figures: seaborn/matplotlib on the aggregated tables, written atomically as PDF or PNG."""

from __future__ import annotations

from advcompress.figure_style import figure


def _err(g, col):
    """Asymmetric error bars from a table's `<col>_lo`/`<col>_hi` interval columns, if it has them."""
    if f"{col}_lo" not in g:
        return None
    return [(g[col] - g[f"{col}_lo"]).clip(lower=0), (g[f"{col}_hi"] - g[col]).clip(lower=0)]


def rd_curves(summary, path, x="bpp_actual", y="psnr_db", title="Clean rate-distortion") -> None:
    """One line per codec over its qualities (learned solid, classic dashed), 95% intervals over images."""
    with figure(path, figsize=(6, 4.2)) as (_, ax):
        for (codec, family), g in summary.sort_values(x).groupby(["codec", "family"]):
            ax.errorbar(g[x], g[y], xerr=_err(g, x), yerr=_err(g, y), marker="o", ms=4, capsize=2, elinewidth=0.8,
                        ls="-" if family == "learned" else "--", label=codec)
        ax.set_xlabel("rate [bpp] (actual bitstream)" if x == "bpp_actual" else x)
        ax.set_ylabel("PSNR [dB]" if y == "psnr_db" else y)
        ax.set_title(title)
        ax.legend(fontsize=7, ncol=2)
