"""Figures: seaborn/matplotlib on the aggregated tables, written atomically as PDF or PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from advcompress.io import save_figure  # noqa: E402


def rd_curves(summary, path, x="bpp_actual", y="psnr_db", title="Clean rate-distortion") -> None:
    """One line per codec over its qualities; learned codecs solid, classic dashed."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for (codec, family), g in summary.sort_values(x).groupby(["codec", "family"]):
        ax.plot(g[x], g[y], marker="o", ms=4, ls="-" if family == "learned" else "--", label=codec)
    ax.set_xlabel("rate [bpp] (actual bitstream)" if x == "bpp_actual" else x)
    ax.set_ylabel("PSNR [dB]" if y == "psnr_db" else y)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)
    plt.close(fig)
