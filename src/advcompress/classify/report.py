"""Tables and figures of the classifier study from its long-form rows (one per image x setting).

Every accuracy (and every other mean) carries a seeded 95% bootstrap interval over the evaluated
images (`_lo`, `_hi`) and the number of images it rests on (`n_images`); the figures draw exactly
those intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from advcompress.figure_style import figure
from advcompress.io import write_table as _write_csv
from advcompress.io import write_text
from advcompress.stats import ci_columns_to_text, fmt_ci, intervals
from advcompress.tables import concat_tables, summarise, valid_mask


def _summary(df: pd.DataFrame, by: list[str], cols: list[str], validity: list[str], seed: int) -> pd.DataFrame:
    """summarise()'s means and counts, with each mean's interval over images beside it."""
    out = summarise(df, by, cols, validity=validity)
    ci = intervals(df, by, cols, "image", seed, valid=valid_mask(df, validity))
    return out.merge(ci, on=by, how="left")


def _rename(t: pd.DataFrame, old: str, new: str) -> pd.DataFrame:
    return t.rename(columns={old: new, f"{old}_lo": f"{new}_lo", f"{old}_hi": f"{new}_hi"})


def _accuracy(df: pd.DataFrame, by: list[str], col: str = "correct", seed: int = 0) -> pd.DataFrame:
    return _rename(_summary(df, by, [col], [col], seed), col, "accuracy")


def _n_text(v: pd.Series) -> str:
    """One n for a row of cells, or its range when the cells rest on different numbers of images."""
    v = v.dropna().astype(int)
    if v.empty:
        return ""
    return str(v.min()) if v.min() == v.max() else f"{v.min()}-{v.max()}"


def _pivot_md(summary: pd.DataFrame, index: list[str], column: str) -> str:
    """'accuracy [lo, hi]' per cell, pivoted, with the rows' n_images as column `n`."""
    t = summary.assign(cell=[fmt_ci(m, lo, hi, ".3f") for m, lo, hi in
                             zip(summary["accuracy"], summary["accuracy_lo"], summary["accuracy_hi"], strict=True)])
    wide = t.pivot_table(index=index, columns=column, values="cell", aggfunc="first", dropna=False)
    n = t.groupby(index, dropna=False)["n_images"].agg(_n_text)
    wide = wide.join(n.rename("n")).reset_index()
    wide.columns = [c if isinstance(c, str) else f"{column}={c:g}" for c in wide.columns]
    wide = wide[[*index, "n", *[c for c in wide.columns if c not in (*index, "n")]]].fillna("")
    return wide.to_markdown(index=False, floatfmt=".3f")


def l2_accuracy(df: pd.DataFrame, thresholds, seed: int = 0) -> pd.DataFrame:
    from advcompress.classify.evaluate import accuracy_at_l2

    base = _accuracy(df.assign(correct=df["correct_clean"]), ["net", "attack", "defense", "through"], seed=seed)
    base = base.assign(l2_threshold=0.0)
    at = _accuracy(accuracy_at_l2(df, thresholds), ["net", "attack", "defense", "through", "l2_threshold"],
                   "correct_at", seed)
    return pd.concat([base, at], ignore_index=True)


def build_table(kind: str, df: pd.DataFrame, s: dict) -> tuple[pd.DataFrame, str]:
    """(summary CSV, Markdown) of one table kind; the interval seed is the config's `seed` (else 0)."""
    seed = int(s.get("seed", 0))
    if kind in ("linf", "ifgsm"):
        df = df[df["attack"] == "ifgsm"] if kind == "ifgsm" else df[df["eps_255"].notna()]
        t = _accuracy(df, ["net", "attack", "defense", "through", "eps_255"], seed=seed)
        return t, _pivot_md(t, ["net", "attack", "defense", "through"], "eps_255")
    if kind == "l2":
        t = l2_accuracy(df[df["eps_255"].isna()], s["l2_thresholds"], seed)
        return t, _pivot_md(t, ["net", "attack", "defense", "through"], "l2_threshold")
    if kind in ("ablation", "ablation-codec"):  # Table 6 (JPEG); Tables 7-8 (one learned codec)
        t = _accuracy(df, ["net", "attack", "defense", "through", "eps_255"], seed=seed)
        return t, _pivot_md(t, ["net", "defense", "through"], "eps_255")
    if kind == "sequential":
        t = _sequential(df, seed)
        return t, _pivot_md(t, ["net", "base", "through", "eps_255"], "rounds")
    if kind == "sequential-codec":  # Tables 9-11: one codec, a row per N, a column per eps
        t = _sequential(df, seed)
        return t, _pivot_md(t, ["net", "base", "through", "rounds"], "eps_255")
    if kind == "adaptive-quality":  # adaptive JPEG, Fig. 2a
        cols = ["correct", "agree_clean", "bpp_actual"]
        t = _rename(_summary(df, ["net", "attack", "eps_255", "input", "quality"], cols, ["correct"], seed),
                    "correct", "accuracy")
        return t, _pivot_md(t, ["net", "attack", "eps_255", "input"], "quality")
    if kind == "adaptive-attacks":  # adaptive JPEG, Fig. 6
        t = _rename(_summary(df, ["net", "attack", "method"], ["correct", "agree_clean"], ["correct"], seed),
                    "correct", "accuracy")
        return t, _pivot_md(t, ["net", "method"], "attack")
    if kind == "bpp":
        cols = ["bpp_actual", "mse255", "psnr_db", "correct"]
        t = _rename(_summary(df, ["net", "codec", "quality", "defense"], cols, ["bpp_actual", "correct"], seed),
                    "correct", "clean_accuracy")
        return t, ci_columns_to_text(t, [*cols[:-1], "clean_accuracy"], ".4g").to_markdown(index=False, floatfmt=".4g")
    if kind == "overhead":
        return df, df.to_markdown(index=False, floatfmt=".4g")
    if kind == "adaptive":
        cols = ["correct", "agree_clean", "mse255", "ssim", "psnr_db", "bytes", "size_ratio", "size_matched"]
        t = _rename(_summary(df, ["net", "method"], cols, ["correct", "mse255"], seed), "correct", "accuracy")
        return t, ci_columns_to_text(t, ["accuracy", *cols[1:]], ".4g").to_markdown(index=False, floatfmt=".4g")
    raise ValueError(f"unknown classify table {kind!r}")


def _sequential(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Accuracy per base defense, rounds N (from the spec's `x<N>`), through flag and eps."""
    steps = df["defense"].str.extract(r"^(?P<base>.+?)(?:x(?P<rounds>\d+))?$")
    df = df.assign(base=steps["base"], rounds=steps["rounds"].fillna(1).astype(int))
    return _accuracy(df, ["net", "attack", "base", "rounds", "through", "eps_255"], seed=seed)


def write_table(kind: str, inputs, out_csv, out_md, s: dict) -> None:
    t, md = build_table(kind, concat_tables(inputs), s)
    _write_csv(out_csv, t)
    write_text(out_md, md)


def draw_figure(kind: str, inputs, out, s: dict) -> None:
    if kind == "adaptive-example":
        _adaptive_example(inputs[0], out)
        return
    if kind == "cycles":
        _cycles(inputs[0], out)
        return
    df = concat_tables(inputs)
    if kind == "linf":
        t, x, col, hue, facet = build_table("linf", df, s)[0], "eps_255", "attack", "defense", "net"
    elif kind == "l2":
        t, x, col, hue, facet = build_table("l2", df, s)[0], "l2_threshold", "attack", "defense", "net"
    elif kind in ("ablation", "ablation-codec"):
        t, x, col, hue, facet = build_table(kind, df, s)[0], "eps_255", "attack", "defense", "net"
    elif kind in ("sequential", "sequential-codec"):  # Figs. 8-13: accuracy against N, a line per eps
        t = _sequential(df, int(s.get("seed", 0)))
        t = t.assign(eps=t["eps_255"].map(lambda e: f"eps={e:g}/255"))
        x, col, hue, facet = "rounds", "base", "eps", "net"
    elif kind == "sequential-eps":  # Figs. 17-19: accuracy against eps, a line per N
        t = _sequential(df, int(s.get("seed", 0)))
        t, x, col, hue, facet = t.assign(N=t["rounds"].map(lambda n: f"N={n}")), "eps_255", "base", "N", "net"
    elif kind == "adaptive-quality":  # Fig. 2a
        t = build_table(kind, df, s)[0].assign(through=False)
        x, col, hue, facet = "quality", "attack", "input", "net"
    elif kind == "adaptive-attacks":  # Fig. 6
        t = build_table(kind, df, s)[0]
        with figure(out, **_ci_grid(t.assign(col=""), "col", "net")) as (fig, axes):
            _ci_bars(fig, axes, t, "attack", "method", "net")
        return
    else:
        raise ValueError(f"unknown classify figure {kind!r}")
    xlabel = {"eps_255": "eps [1/255]", "l2_threshold": "L2 threshold (pixels in [0, 1])",
              "rounds": "compression rounds N", "quality": "JPEG quality"}[x]
    with figure(out, **_ci_grid(t, col, facet)) as (fig, axes):
        _ci_lines(fig, axes, t, x, col, hue, facet, xlabel)


def _ci_grid(t: pd.DataFrame, col: str, facet: str) -> dict:
    """The panels of `_ci_lines`' figure, as `figure()` arguments: one per (facet, col)."""
    n_rows, n_cols = len(dict.fromkeys(t[facet])), len(dict.fromkeys(t[col]))
    return {"nrows": n_rows, "ncols": n_cols, "figsize": (2.9 * n_cols, 2.6 * n_rows), "squeeze": False,
            "sharex": True, "sharey": True}


def _ci_lines(fig, axes, t: pd.DataFrame, x: str, col: str, hue: str, facet: str, xlabel: str) -> None:
    """Accuracy against `x`, one panel per (facet, col) (the axes of `_ci_grid`), one colour per
    `hue`, dashed when the gradient goes through the defense; error bars are the table's own
    intervals over images."""
    import seaborn as sns

    rows, cols = list(dict.fromkeys(t[facet])), list(dict.fromkeys(t[col]))
    hues = list(dict.fromkeys(t[hue]))
    colors = dict(zip(hues, sns.color_palette("tab10", max(len(hues), 1)), strict=False))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            for (h, through), g in t[(t[facet] == r) & (t[col] == c)].groupby([hue, "through"], sort=False):
                g = g.sort_values(x)
                m = g["accuracy"].to_numpy(dtype=float)
                err = np.vstack([m - g["accuracy_lo"].to_numpy(dtype=float), g["accuracy_hi"].to_numpy(dtype=float) - m])
                err = np.nan_to_num(err).clip(min=0.0)
                ax.errorbar(g[x], m, yerr=err, fmt="o-" if not through else "o--", ms=3, capsize=2,
                            color=colors[h], label=f"{h}, {'through' if through else 'not through'}")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{facet} = {r} | {col} = {c}", fontsize=7)
            if i == len(rows) - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel("accuracy")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6)
    fig.tight_layout()


def _ci_bars(fig, axes, t: pd.DataFrame, x: str, hue: str, facet: str) -> None:
    """Accuracy per category `x`, a bar per `hue` side by side, one panel per `facet` (axes[i, 0]);
    error bars are the table's intervals over images."""
    import seaborn as sns

    cats, hues = list(dict.fromkeys(t[x])), list(dict.fromkeys(t[hue]))
    colors = sns.color_palette("tab10", max(len(hues), 1))
    width = 0.8 / max(len(hues), 1)
    for i, r in enumerate(dict.fromkeys(t[facet])):
        ax = axes[i, 0]
        for k, h in enumerate(hues):
            g = t[(t[facet] == r) & (t[hue] == h)].set_index(x).reindex(cats)
            m = g["accuracy"].to_numpy(dtype=float)
            err = np.nan_to_num(np.vstack([m - g["accuracy_lo"].to_numpy(dtype=float),
                                           g["accuracy_hi"].to_numpy(dtype=float) - m])).clip(min=0.0)
            ax.bar(np.arange(len(cats)) + (k - (len(hues) - 1) / 2) * width, np.nan_to_num(m), width, yerr=err,
                   capsize=2, color=colors[k], label=h if i == 0 else None)
        ax.set_xticks(np.arange(len(cats)), cats)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{facet} = {r}", fontsize=7)
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6)
    fig.tight_layout()


def _cycles(path, out) -> None:
    """Fig. 1: one row per image, the original and each defense's image after N cycles."""
    import torch

    from advcompress.device import to_numpy

    ex = torch.load(path, map_location="cpu", weights_only=True)
    cols = [*ex["defenses"], "original"]
    imgs = {**ex["images"], "original": ex["original"]}
    n = len(ex["original"])
    with figure(out, n, len(cols), figsize=(1.6 * len(cols), 1.6 * n), squeeze=False) as (_, axes):
        for i in range(n):
            for j, c in enumerate(cols):
                ax = axes[i, j]
                ax.imshow(to_numpy(imgs[c][i].permute(1, 2, 0).clamp(0, 1)), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(c if c == "original" else f"{c} x{ex['rounds']}", fontsize=7)


def _adaptive_example(path, out) -> None:
    import torch

    from advcompress.device import to_numpy

    ex = torch.load(path, map_location="cpu", weights_only=True)
    cols = ["original", "adversarial", "jpeg", "saliency", "aug_saliency", "aug_saliency_map"]
    n = len(ex["original"])
    with figure(out, n, len(cols), figsize=(1.6 * len(cols), 1.6 * n), squeeze=False) as (_, axes):
        for i in range(n):
            for j, c in enumerate(cols):
                img = ex[c][i]
                ax = axes[i, j]
                if img.dim() == 2:
                    ax.imshow(to_numpy(img), cmap="inferno", vmin=0, vmax=1)
                else:
                    ax.imshow(to_numpy(img.permute(1, 2, 0).clamp(0, 1)), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(c.replace("_", " "), fontsize=7)
