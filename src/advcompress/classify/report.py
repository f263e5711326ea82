"""Tables and figures of the classifier study from its long-form rows (one per image x setting)."""

from __future__ import annotations

import pandas as pd

from advcompress.io import write_table as _write_csv
from advcompress.io import write_text
from advcompress.tables import concat_tables, summarise, to_markdown


def _accuracy(df: pd.DataFrame, by: list[str], col: str = "correct") -> pd.DataFrame:
    out = summarise(df, by, [col], validity=[col])
    return out.rename(columns={col: "accuracy"})


def _pivot_md(summary: pd.DataFrame, index: list[str], column: str) -> str:
    wide = summary.pivot_table(index=index, columns=column, values="accuracy", dropna=False).reset_index()
    wide.columns = [c if isinstance(c, str) else f"{column}={c:g}" for c in wide.columns]
    return to_markdown(wide, ".3f")


def l2_accuracy(df: pd.DataFrame, thresholds) -> pd.DataFrame:
    from advcompress.classify.evaluate import accuracy_at_l2

    base = _accuracy(df.assign(correct=df["correct_clean"]), ["net", "attack", "defense", "through"])
    base = base.assign(l2_threshold=0.0)
    at = _accuracy(accuracy_at_l2(df, thresholds), ["net", "attack", "defense", "through", "l2_threshold"], "correct_at")
    return pd.concat([base, at], ignore_index=True)


def build_table(kind: str, df: pd.DataFrame, s: dict) -> tuple[pd.DataFrame, str]:
    """(summary CSV, Markdown) of one table kind."""
    if kind in ("linf", "ifgsm"):
        df = df[df["attack"] == "ifgsm"] if kind == "ifgsm" else df[df["eps_255"].notna()]
        t = _accuracy(df, ["net", "attack", "defense", "through", "eps_255"])
        return t, _pivot_md(t, ["net", "attack", "defense", "through"], "eps_255")
    if kind == "l2":
        t = l2_accuracy(df[df["eps_255"].isna()], s["l2_thresholds"])
        return t, _pivot_md(t, ["net", "attack", "defense", "through"], "l2_threshold")
    if kind == "ablation":
        t = _accuracy(df, ["net", "attack", "defense", "through", "eps_255"])
        return t, _pivot_md(t, ["net", "defense", "through"], "eps_255")
    if kind == "sequential":
        steps = df["defense"].str.extract(r"^(?P<base>.+?)(?:x(?P<rounds>\d+))?$")
        df = df.assign(base=steps["base"], rounds=steps["rounds"].fillna(1).astype(int))
        t = _accuracy(df, ["net", "attack", "base", "rounds", "through", "eps_255"])
        return t, _pivot_md(t, ["net", "base", "through", "eps_255"], "rounds")
    if kind == "bpp":
        t = summarise(df, ["net", "codec", "quality", "defense"], ["bpp_actual", "mse255", "psnr_db", "correct"],
                      validity=["bpp_actual", "correct"])
        t = t.rename(columns={"correct": "clean_accuracy"})
        return t, to_markdown(t)
    if kind == "overhead":
        return df, to_markdown(df)
    if kind == "adaptive":
        t = summarise(df, ["net", "method"], ["correct", "agree_clean", "mse255", "ssim", "psnr_db", "bytes",
                                              "size_ratio", "size_matched"], validity=["correct", "mse255"])
        t = t.rename(columns={"correct": "accuracy"})
        return t, to_markdown(t)
    raise ValueError(f"unknown classify table {kind!r}")


def write_table(kind: str, inputs, out_csv, out_md, s: dict) -> None:
    t, md = build_table(kind, concat_tables(inputs), s)
    _write_csv(out_csv, t)
    write_text(out_md, md)


def draw_figure(kind: str, inputs, out, s: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from advcompress.io import save_figure

    sns.set_theme(style="whitegrid", context="paper")
    if kind == "adaptive-example":
        fig = _adaptive_example(inputs[0], plt)
    else:
        df = concat_tables(inputs)
        if kind == "linf":
            t, x, col, hue, facet = build_table("linf", df, s)[0], "eps_255", "attack", "defense", "net"
        elif kind == "l2":
            t, x, col, hue, facet = build_table("l2", df, s)[0], "l2_threshold", "attack", "defense", "net"
        elif kind == "ablation":
            t, x, col, hue, facet = build_table("ablation", df, s)[0], "eps_255", "attack", "defense", "net"
        elif kind == "sequential":
            t = build_table("sequential", df, s)[0]
            t = t.assign(eps=t["eps_255"].map(lambda e: f"eps={e:g}/255"))
            x, col, hue, facet = "rounds", "base", "eps", "net"
        else:
            raise ValueError(f"unknown classify figure {kind!r}")
        t = t.assign(through=t["through"].map({True: "through", False: "not through"}))
        g = sns.relplot(data=t, x=x, y="accuracy", hue=hue, style="through", col=col, row=facet,
                        kind="line", marker="o", height=2.6, aspect=1.1, style_order=["not through", "through"])
        g.set(ylim=(-0.02, 1.02))
        xlabel = {"eps_255": "eps [1/255]", "l2_threshold": "L2 threshold (pixels in [0, 1])",
                  "rounds": "compression rounds N"}[x]
        g.set_axis_labels(xlabel, "accuracy")
        fig = g.figure
    save_figure(fig, out)
    plt.close(fig)


def _adaptive_example(path, plt):
    import torch

    ex = torch.load(path, map_location="cpu", weights_only=True)
    cols = ["original", "adversarial", "jpeg", "saliency", "aug_saliency", "aug_saliency_map"]
    n = len(ex["original"])
    fig, axes = plt.subplots(n, len(cols), figsize=(1.6 * len(cols), 1.6 * n), squeeze=False)
    for i in range(n):
        for j, c in enumerate(cols):
            img = ex[c][i]
            ax = axes[i, j]
            if img.dim() == 2:
                ax.imshow(img.numpy(), cmap="inferno", vmin=0, vmax=1)
            else:
                ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(c.replace("_", " "), fontsize=7)
    return fig
