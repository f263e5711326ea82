"""Tables and figures of both backdoor studies, from the jobs' long-form rows."""

from __future__ import annotations

import math

import pandas as pd

CLASSIFIER_TABLES = {
    "table4": "main",  # common vs compression-resistant, main trigger
    "table5": "main",  # adversarial training vs feature consistency, main trigger
    "table6": "main",  # common vs compression-resistant for every trigger
    "table8": "ir",
    "table11": "alpha",
}


def _quality(v) -> str:
    """Codec quality as text ('' for none): CSV round trips turn 50 into 50.0 when a column has blanks."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return ""
    f = float(v)
    return str(int(f)) if f.is_integer() else str(f)


def _asr_rows(df: pd.DataFrame) -> pd.DataFrame:
    asr = df[df.metric == "asr"]
    return asr.assign(quality=asr.quality.map(_quality))


def _wide(df: pd.DataFrame, test_codecs: dict) -> pd.DataFrame:
    """One row per run: TA, ASR, ASR after each test codec (NaN plus a note if its encoder is missing)."""
    keys = ["run", "method", "trigger", "alpha", "ir", "n_backdoor", "train_codecs"]
    out = []
    for k, g in df.groupby(keys, sort=False):
        row = dict(zip(keys, k, strict=True))
        ta = g[g.metric == "ta"].iloc[0]
        row["ta"] = ta.rate
        asr = _asr_rows(g)
        row["asr"] = asr[asr.codec == "none"].rate.iloc[0]
        notes = []
        for codec, q in test_codecs.items():
            hit = asr[(asr.codec == codec) & (asr.quality == _quality(q))]
            row[f"asr_{codec}_q{_quality(q)}"] = hit.rate.iloc[0] if len(hit) else math.nan
            if len(hit) and isinstance(hit.note.iloc[0], str) and hit.note.iloc[0]:
                notes.append(f"{codec}: {hit.note.iloc[0]}")
        row["n_test"] = int(asr[asr.codec == "none"].n.iloc[0])
        row["note"] = "; ".join(notes)
        out.append(row)
    return pd.DataFrame(out)


def classifier_table(df: pd.DataFrame, kind: str, s: dict) -> pd.DataFrame:
    main = s["studies"]["triggers"][0]
    wide = _wide(df, s["test_codecs"])
    if kind == "table4":
        wide = wide[(wide.trigger == main) & wide.method.isin(["common", "fc"])]
    elif kind == "table5":
        wide = wide[(wide.trigger == main) & wide.method.isin(["adversarial", "fc"])]
    elif kind == "table6":
        wide = wide[wide.method.isin(["common", "fc"])].sort_values(["trigger", "method"], kind="stable")
    elif kind == "table8":
        wide = wide.sort_values("ir")
    elif kind == "table11":
        wide = wide.sort_values("alpha")
    else:
        raise ValueError(f"unknown table {kind!r}; choose from {sorted(CLASSIFIER_TABLES)}")
    return wide.reset_index(drop=True)


def classifier_figure(df: pd.DataFrame, kind: str, s: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from advcompress.io import save_figure

    sns.set_theme(style="whitegrid", context="paper")
    asr = _asr_rows(df)
    if kind == "fig6":
        sweep = asr[asr.codec == "jpeg"]  # the sweep plus the test set's own JPEG quality
        sweep = sweep.assign(quality=sweep.quality.astype(int))
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for (trig, method), g in sweep.groupby(["trigger", "method"]):
            g = g.sort_values("quality")
            ax.plot(g.quality, 100 * g.rate, marker="o", ls="-" if method == "fc" else "--",
                    label=f"{trig}, {'compression-resistant' if method == 'fc' else method}")
        ax.set_xlabel("JPEG quality")
        ax.set_ylabel("ASR after JPEG [%]")
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=7)
        ax.set_title("ASR vs JPEG quality (Fig. 6)")
    elif kind == "fig7":
        cols = [f"{c}@{_quality(q)}" for c, q in s["test_codecs"].items()]
        t = asr.assign(test=asr.codec + "@" + asr.quality)
        t = t[t.test.isin(cols)]
        grid = t.pivot_table(index="train_codecs", columns="test", values="rate", aggfunc="mean", dropna=False)
        grid = grid.reindex(columns=cols) * 100
        fig, ax = plt.subplots(figsize=(6, 0.6 * len(grid) + 1.6))
        sns.heatmap(grid, annot=True, fmt=".0f", vmin=0, vmax=100, cmap="viridis", ax=ax,
                    cbar_kws={"label": "ASR [%]"})
        ax.set_xlabel("test codec (unseen: avif, heif)")
        ax.set_ylabel("training codecs")
        ax.set_title("Train on one codec, test on all (Fig. 7)")
    else:
        raise ValueError(f"unknown figure {kind!r}; choose fig6 or fig7")
    save_figure(fig, path)
    plt.close(fig)


# -- LIC encoder backdoor ---------------------------------------------------------------------------


def lic_table(df: pd.DataFrame, kind: str, s: dict) -> pd.DataFrame:
    from advcompress.tables import summarise

    if kind == "table3":
        # Photo rows (rate/PSNR) and digit rows (classifier predictions) arrive concatenated.
        is_ds = df["pred"].notna() if "pred" in df else pd.Series(False, index=df.index)
        photo = df[~is_ds]
        summ = summarise(photo, ["model", "quality", "encoder", "trigger"],
                         ["bpp_actual", "bpp_est", "psnr_db", "psnr_vs_clean_db", "trigger_mse"],
                         validity=["bpp_actual", "psnr_vs_clean_db"])
        if is_ds.any():
            # Digit rows are their own inputs (clean or ds-triggered digits), named apart from the photos.
            ds = df[is_ds].assign(trigger=lambda d: "digits:" + d.trigger.astype(str))
            rates = (ds.groupby(["model", "quality", "encoder", "trigger"])
                     .agg(ds_asr=("hit_target", "mean"), ds_accuracy=("correct", "mean"), ds_n=("pred", "size"))
                     .reset_index())
            summ = pd.concat([summ, rates], ignore_index=True)
        return summ.sort_values(["model", "quality", "encoder", "trigger"]).reset_index(drop=True)
    if kind == "table5":
        return summarise(df, ["model", "quality", "defense", "value", "trigger"],
                         ["psnr_vs_clean_db", "bpp_actual"], validity=["bpp_actual", "psnr_vs_clean_db"])
    raise ValueError(f"unknown LIC table {kind!r}")


def lic_rd_figure(df: pd.DataFrame, kind: str, path) -> None:
    """Fig. 4 (bpp trigger) / Fig. 5 (psnr trigger): RD curves of clean and triggered inputs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from advcompress.io import save_figure
    from advcompress.tables import summarise

    trig = "bpp" if kind == "fig4" else "psnr"
    sns.set_theme(style="whitegrid", context="paper")
    summ = summarise(df, ["model", "quality", "encoder", "trigger"], ["bpp_actual", "psnr_vs_clean_db"])
    models = sorted(summ.model.unique())
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.8), squeeze=False)
    for ax, m in zip(axes[0], models, strict=True):
        g = summ[summ.model == m]
        for (enc, t), label, style in [
            (("original", "none"), "original encoder, clean", "o-"),
            (("backdoored", "none"), "backdoored encoder, clean", "s--"),
            (("backdoored", trig), f"backdoored encoder, {trig} trigger", "^-"),
            (("original", trig), f"original encoder, {trig} trigger", "x:"),
        ]:
            c = g[(g.encoder == enc) & (g.trigger == t)].sort_values("bpp_actual")
            if len(c):
                ax.plot(c.bpp_actual, c.psnr_vs_clean_db, style, label=label, ms=4)
        ax.set_xlabel("rate [bpp] (actual bitstream)")
        ax.set_ylabel("PSNR vs clean image [dB]")
        ax.set_title(f"{m}: {'bit-rate' if trig == 'bpp' else 'PSNR'} attack")
        ax.legend(fontsize=7)
    save_figure(fig, path)
    plt.close(fig)


def lic_example(example_dir, path) -> None:
    """Fig. 6: input and reconstruction for the clean image and each trigger (backdoored encoder)."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from advcompress.io import save_figure

    d = Path(example_dir)
    trigs = sorted(p.stem.split("_", 1)[1] for p in d.glob("input_*.png"))
    trigs = ["none"] + [t for t in trigs if t != "none"]
    fig, axes = plt.subplots(2, len(trigs), figsize=(2.6 * len(trigs), 5.4), squeeze=False)
    for j, t in enumerate(trigs):
        for i, kind in enumerate(["input", "recon"]):
            ax = axes[i][j]
            p = d / f"{kind}_{t}.png"
            if p.exists():
                ax.imshow(Image.open(p))
            ax.set_axis_off()
            ax.set_title(f"{'input' if kind == 'input' else 'decoded'}: {'clean' if t == 'none' else t + ' trigger'}",
                         fontsize=8)
    save_figure(fig, path)
    plt.close(fig)
