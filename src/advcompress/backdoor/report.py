"""Tables and figures of both backdoor studies, from the jobs' long-form rows.

Every rate (TA, ASR per test codec) carries a seeded 95% bootstrap interval over the test samples
it was measured on (`_lo`, `_hi`) and their number (`n_<cell>`); the LIC tables' means carry their
interval over images (`n_images`). Figures draw those same intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advcompress.figure_style import figure
from advcompress.stats import ci_columns_to_text, group_seed, intervals, proportion_ci


def _quality(v) -> str:
    """Codec quality as text ('' for none): CSV round trips turn 50 into 50.0 when a column has blanks."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return ""
    f = float(v)
    return str(int(f)) if f.is_integer() else str(f)


def _asr_rows(df: pd.DataFrame) -> pd.DataFrame:
    asr = df[df.metric == "asr"]
    return asr.assign(quality=asr.quality.map(_quality))


def _rate_cell(row: dict, name: str, hit, seed: int, *key) -> None:
    """Put rate, interval over test samples and n of one table cell into `row` (NaN if unmeasured)."""
    if hit is None or not int(hit.n):
        row |= {name: hit.rate if hit is not None else math.nan, f"{name}_lo": math.nan, f"{name}_hi": math.nan,
                f"n_{name}": 0}
        return
    _, lo, hi = proportion_ci(hit.hits, hit.n, group_seed(seed, *key))
    row |= {name: hit.rate, f"{name}_lo": lo, f"{name}_hi": hi, f"n_{name}": int(hit.n)}


def _wide(df: pd.DataFrame, test_codecs: dict, seed: int = 0) -> pd.DataFrame:
    """One row per run: TA, ASR, ASR after each test codec (NaN plus a note if its encoder is missing),
    each with its interval over the test samples and their number n_<cell>."""
    keys = ["run", "arch", "method", "trigger", "alpha", "ir", "epochs", "lr", "n_backdoor", "train_codecs"]
    out = []
    for k, g in df.groupby(keys, sort=False):
        row = dict(zip(keys, k, strict=True))
        _rate_cell(row, "ta", g[g.metric == "ta"].iloc[0], seed, row["run"], "ta")
        asr = _asr_rows(g)
        _rate_cell(row, "asr", asr[asr.codec == "none"].iloc[0], seed, row["run"], "asr", "none")
        notes = []
        for codec, q in test_codecs.items():
            hit = asr[(asr.codec == codec) & (asr.quality == _quality(q))]
            _rate_cell(row, f"asr_{codec}_q{_quality(q)}", hit.iloc[0] if len(hit) else None, seed,
                       row["run"], "asr", codec, _quality(q))
            if len(hit) and isinstance(hit.note.iloc[0], str) and hit.note.iloc[0]:
                notes.append(f"{codec}: {hit.note.iloc[0]}")
        row["n_test"] = int(asr[asr.codec == "none"].n.iloc[0])
        row["note"] = "; ".join(notes)
        out.append(row)
    return pd.DataFrame(out)


def classifier_markdown(t: pd.DataFrame) -> str:
    """'rate [lo, hi]' cells; n is the run's `n_test` (ASR) and `n_ta` (TA), and a cell resting on
    another number of samples says so beside its interval."""
    cells = [c[: -len("_lo")] for c in t.columns if c.endswith("_lo")]
    out = ci_columns_to_text(t, cells, ".3f")
    for c in cells:
        if c == "ta":
            continue
        other = t[f"n_{c}"].ne(t["n_test"]) & t[c].notna()
        out.loc[other, c] = out.loc[other, c] + " (n=" + t.loc[other, f"n_{c}"].astype(str) + ")"
    out = out.drop(columns=[f"n_{c}" for c in cells if c != "ta"])
    return out.to_markdown(index=False, floatfmt=".3f")


# The sweep tables, each sorted by the setting it varies: 8, injection rate; 9, epochs; 10, learning rate; 11, alpha.
SWEEPS = {"table8": "ir", "table9": "epochs", "table10": "lr", "table11": "alpha"}


def classifier_table(df: pd.DataFrame, kind: str, s: dict) -> pd.DataFrame:
    """Table 4 (common vs fc, main trigger, one pair per architecture in input order), 5 (adversarial
    vs fc), 6 and 7 (common vs fc per trigger: the main architecture, then Table 7's), and the sweeps."""
    main = s["studies"]["triggers"][0]
    wide = _wide(df, s["test_codecs"], int(s.get("seed", 0)))
    if kind == "table4":
        wide = wide[(wide.trigger == main) & wide.method.isin(["common", "fc"])]
    elif kind == "table5":
        wide = wide[(wide.trigger == main) & wide.method.isin(["adversarial", "fc"])]
    elif kind in ("table6", "table7"):
        wide = wide[wide.method.isin(["common", "fc"])].sort_values(["arch", "trigger", "method"], kind="stable")
    elif kind in SWEEPS:
        wide = wide.sort_values(SWEEPS[kind], kind="stable")
    else:
        raise ValueError(f"unknown table {kind!r}; choose from table4, table5, table6, table7, {', '.join(SWEEPS)}")
    return wide.reset_index(drop=True)


def classifier_figure(df: pd.DataFrame, kind: str, s: dict, path) -> None:
    """Fig. 6 (ASR after JPEG against its quality) or Fig. 7 (codec transfer), one panel per
    architecture in the rows: the paper's (a) ResNet-18 and (b) VGG-16 panels are fig6/fig6b and
    fig7/fig7b, which read the main architecture's runs and studies.trigger_archs' runs."""
    if kind not in ("fig6", "fig7"):
        raise ValueError(f"unknown figure {kind!r}; choose fig6 or fig7")
    asr = _asr_rows(df)
    archs = list(dict.fromkeys(asr.arch))
    panel, width = (_fig6_panel, 5.5) if kind == "fig6" else (_fig7_panel, 6.0)
    height = 3.8 if kind == "fig6" else 0.6 * asr.train_codecs.nunique() + 1.6
    with figure(path, 1, len(archs), figsize=(width * len(archs), height), squeeze=False) as (_, axes):
        for ax, arch in zip(axes[0], archs, strict=True):
            panel(ax, asr[asr.arch == arch], s)
            ax.set_title(f"{arch}: {ax.get_title()}")


def _fig6_panel(ax, asr: pd.DataFrame, s: dict) -> None:
    sweep = asr[asr.codec == "jpeg"]  # the sweep plus the test set's own JPEG quality
    sweep = sweep.assign(quality=sweep.quality.astype(int))
    seed = int(s.get("seed", 0))
    for (trig, method), g in sweep.groupby(["trigger", "method"]):
        g = g.sort_values("quality")
        # the tables' interval for each point: the run's test samples, seeded by run and cell
        ci = np.array([proportion_ci(r.hits, r.n, group_seed(seed, r.run, "asr", r.codec, _quality(r.quality)))
                       if r.n else (math.nan,) * 3 for r in g.itertuples()]).reshape(-1, 3)
        err = np.nan_to_num(100 * np.vstack([ci[:, 0] - ci[:, 1], ci[:, 2] - ci[:, 0]])).clip(min=0.0)
        ax.errorbar(g.quality, 100 * g.rate, yerr=err, marker="o", capsize=2,
                    ls="-" if method == "fc" else "--",
                    label=f"{trig}, {'compression-resistant' if method == 'fc' else method}")
    ax.set_xlabel("JPEG quality")
    ax.set_ylabel("ASR after JPEG [%]")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=7)
    ax.set_title("ASR vs JPEG quality (Fig. 6)")


def _fig7_panel(ax, asr: pd.DataFrame, s: dict) -> None:
    import seaborn as sns

    cols = [f"{c}@{_quality(q)}" for c, q in s["test_codecs"].items()]
    t = asr.assign(test=asr.codec + "@" + asr.quality)
    t = t[t.test.isin(cols)]
    grid = t.pivot_table(index="train_codecs", columns="test", values="rate", aggfunc="mean", dropna=False)
    grid = grid.reindex(columns=cols) * 100
    sns.heatmap(grid, annot=True, fmt=".0f", vmin=0, vmax=100, cmap="viridis", ax=ax,
                cbar_kws={"label": "ASR [%]"})
    ax.set_xlabel("test codec (unseen: avif, heif)")
    ax.set_ylabel("training codecs")
    ax.set_title("Train on one codec, test on all (Fig. 7)")


# -- LIC encoder backdoor ---------------------------------------------------------------------------


def _lic_summary(df: pd.DataFrame, by: list[str], cols: list[str], validity: list[str], seed: int) -> pd.DataFrame:
    """summarise()'s means over valid images with each mean's interval over images and n_images."""
    from advcompress.tables import summarise, valid_mask

    out = summarise(df, by, cols, validity=validity)
    return out.merge(intervals(df, by, cols, "image", seed, valid=valid_mask(df, validity)), on=by, how="left")


def lic_table(df: pd.DataFrame, kind: str, s: dict) -> pd.DataFrame:
    """Table 3 / Table 5 of the LIC backdoor: means over images, each with its interval and n_images."""
    seed = int(s.get("seed", 0))
    if kind == "table3":
        # Photo rows (rate/PSNR) and digit rows (classifier predictions) arrive concatenated.
        is_ds = df["pred"].notna() if "pred" in df else pd.Series(False, index=df.index)
        photo = df[~is_ds]
        by = ["model", "quality", "encoder", "trigger"]
        summ = _lic_summary(photo, by, ["bpp_actual", "bpp_est", "psnr_db", "psnr_vs_clean_db", "trigger_mse"],
                            ["bpp_actual", "psnr_vs_clean_db"], seed)
        if is_ds.any():
            # Digit rows are their own inputs (clean or ds-triggered digits), named apart from the photos.
            ds = df[is_ds].assign(trigger=lambda d: "digits:" + d.trigger.astype(str))
            summ = pd.concat([summ, _ds_rates(ds, by, seed)], ignore_index=True)
        return summ.sort_values(["model", "quality", "encoder", "trigger"]).reset_index(drop=True)
    if kind == "table2":
        # The paper's face-recognition accuracy of attacked outputs; here the digits classifier's
        # accuracy on decoded digits, clean and ds-triggered, through both encoders (docs/backdoor.md).
        by = ["model", "quality", "encoder", "trigger"]
        return _ds_rates(df, by, seed)[[*by, "ds_accuracy", "ds_accuracy_lo", "ds_accuracy_hi", "n_images"]]
    if kind == "table5":
        return _lic_summary(df, ["model", "quality", "defense", "value", "trigger"], ["psnr_vs_clean_db", "bpp_actual"],
                            ["bpp_actual", "psnr_vs_clean_db"], seed)
    if kind == "table6":
        return _amplified_table(df, seed)
    if kind == "lira":
        return _lira_table(df, seed)
    if kind == "table1":
        # Per-mosaic means (every mosaic holds at least one source tile), each with its interval over mosaics.
        return _lic_summary(df, ["model", "quality", "encoder", "trigger"],
                            ["pixel_asr", "other_accuracy", "output_mse", "bpp_actual", "psnr_vs_clean_db"],
                            ["pixel_asr", "bpp_actual"], seed)
    raise ValueError(f"unknown LIC table {kind!r}")


def _ds_rates(ds: pd.DataFrame, by: list[str], seed: int) -> pd.DataFrame:
    """Downstream ASR (`ds_asr`, n_asr) and accuracy (`ds_accuracy`, n_images) per group of digit rows,
    each with its interval over digits: the ASR over the digits outside the target class (hit_target
    is NaN on the others; older runs evaluated only those), the accuracy over all."""
    rates = (ds.groupby(by)
             .agg(ds_asr=("hit_target", "mean"), ds_accuracy=("correct", "mean"), ds_n=("pred", "size"))
             .reset_index())
    asr_ci = intervals(ds.assign(ds_asr=ds["hit_target"].astype(float)), by, ["ds_asr"], "image", seed,
                       n_name="n_asr")
    acc_ci = intervals(ds.assign(ds_accuracy=ds["correct"].astype(float)), by, ["ds_accuracy"], "image", seed)
    return rates.merge(asr_ci.merge(acc_ci, on=by, how="left"), on=by, how="left")


def _lira_table(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The LIRA baseline beside the frequency trigger (`method`, the trigger kind the rows were coded
    with): PSNR and rate of the backdoored encoder on clean and PSNR-triggered photos after each
    defense, at x1 and amplified (Tables 5, 6), the downstream accuracy on decoded digits (Table 2)
    and the segmentation stand-in's pixel-wise ASR (Table 1)."""
    df = df.assign(method=df["method"].fillna("frequency") if "method" in df else "frequency")
    is_ds = df["pred"].notna() if "pred" in df else pd.Series(False, index=df.index)
    is_seg = df["pixel_asr"].notna() if "pixel_asr" in df else pd.Series(False, index=df.index)
    photo = df[~is_ds & ~is_seg & df["trigger"].isin(["none", "psnr"])]
    photo = photo.assign(amplify=photo["amplify"].fillna(1.0) if "amplify" in photo else 1.0,
                         value=photo["value"].map(_quality))
    by = ["method", "model", "quality", "trigger", "defense", "value", "amplify"]
    defenses = _lic_summary(photo, by, ["psnr_vs_clean_db", "bpp_actual"], ["bpp_actual", "psnr_vs_clean_db"], seed)
    parts = [defenses.assign(part="defenses (Tables 5, 6)")]
    if is_ds.any():
        ds = _ds_rates(df[is_ds & (df["encoder"] == "backdoored")], ["method", "model", "quality", "trigger"], seed)
        parts.append(ds.assign(part="downstream accuracy (Table 2)"))
    if is_seg.any():
        seg = _lic_summary(df[is_seg & (df["encoder"] == "backdoored")], ["method", "model", "quality", "trigger"],
                           ["pixel_asr", "other_accuracy", "output_mse"], ["pixel_asr"], seed)
        parts.append(seg.assign(part="segmentation stand-in (Table 1)"))
    return pd.concat(parts, ignore_index=True).sort_values(["part", "model", "quality", "method"], kind="stable")


def _amplified_table(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Table 6: each photo trigger at x1 (the defense rows) and amplified (the amplified rows), after
    no defense and after each defense the amplified rows were coded with; backdoored encoder."""
    amp = df["amplify"].notna() if "amplify" in df else pd.Series(False, index=df.index)
    df = df.assign(amplify=df["amplify"].fillna(1.0) if "amplify" in df else 1.0,
                   value=df["value"].map(_quality))
    strong = df[amp]
    keep = df.set_index(["defense", "value", "trigger"]).index.isin(
        strong.set_index(["defense", "value", "trigger"]).index)
    by = ["model", "quality", "trigger", "defense", "value", "amplify"]
    cols = ["psnr_vs_clean_db", "bpp_actual", "trigger_mse"]
    return _lic_summary(df[keep], by, cols, ["bpp_actual", "psnr_vs_clean_db"], seed).sort_values(
        by, kind="stable").reset_index(drop=True)


def lic_markdown(t: pd.DataFrame) -> str:
    """'mean [lo, hi]' cells beside n_images for the Markdown versions of the LIC tables."""
    cells = [c[: -len("_lo")] for c in t.columns if c.endswith("_lo")]
    return ci_columns_to_text(t, cells, ".4g").to_markdown(index=False, floatfmt=".4g")


def lic_rd_figure(df: pd.DataFrame, kind: str, path, seed: int = 0) -> None:
    """Fig. 4 (bpp trigger) / Fig. 5 (psnr trigger) / Fig. 10 (ds trigger, "attacking for good"): RD
    curves of clean and triggered inputs, a panel per model (Fig. 10: per model and input domain,
    photos and the digit rows, which carry `pred`), with the interval over images of both means
    (the tables' own) as error bars."""
    trig, title = {"fig4": ("bpp", "bit-rate attack"), "fig5": ("psnr", "PSNR attack"),
                   "fig10": ("ds", "attacking for good")}[kind]
    if "pred" in df:
        df = df.assign(model=df.model + np.where(df["pred"].isna(), ", photos", ", digits"))
    cols = ["bpp_actual", "psnr_vs_clean_db"]
    summ = _lic_summary(df, ["model", "quality", "encoder", "trigger"], cols, cols, seed)
    models = sorted(summ.model.unique())

    def err(c, col):
        m = c[col].to_numpy(dtype=float)
        return np.nan_to_num(np.vstack([m - c[f"{col}_lo"].to_numpy(dtype=float),
                                        c[f"{col}_hi"].to_numpy(dtype=float) - m])).clip(min=0.0)

    with figure(path, 1, len(models), figsize=(5 * len(models), 3.8), squeeze=False) as (_, axes):
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
                    ax.errorbar(c.bpp_actual, c.psnr_vs_clean_db, xerr=err(c, "bpp_actual"),
                                yerr=err(c, "psnr_vs_clean_db"), fmt=style, label=label, ms=4, capsize=2)
            ax.set_xlabel("rate [bpp] (actual bitstream)")
            ax.set_ylabel("PSNR vs clean image [dB]")
            ax.set_title(f"{m}: {title}")
            ax.legend(fontsize=7)


def lic_example(example_dir, path) -> None:
    """Fig. 6: input and reconstruction for the clean image and each trigger (backdoored encoder)."""
    from pathlib import Path

    from PIL import Image

    d = Path(example_dir)
    trigs = sorted(p.stem.split("_", 1)[1] for p in d.glob("input_*.png"))
    trigs = ["none"] + [t for t in trigs if t != "none"]
    with figure(path, 2, len(trigs), figsize=(2.6 * len(trigs), 5.4), squeeze=False, themed=False) as (_, axes):
        for j, t in enumerate(trigs):
            for i, kind in enumerate(["input", "recon"]):
                ax = axes[i][j]
                p = d / f"{kind}_{t}.png"
                if p.exists():
                    ax.imshow(Image.open(p))
                ax.set_axis_off()
                ax.set_title(f"{'input' if kind == 'input' else 'decoded'}: "
                             f"{'clean' if t == 'none' else t + ' trigger'}", fontsize=8)
