"""Aggregations of the long-form per-image tables into the papers' tables."""

from __future__ import annotations

import math

import pandas as pd


def concat_tables(paths) -> pd.DataFrame:
    from advcompress.io import read_table

    frames = [read_table(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def valid_mask(df: pd.DataFrame, cols) -> pd.Series:
    ok = pd.Series(True, index=df.index)
    for c in cols:
        ok &= df[c].map(lambda v: isinstance(v, int | float) and math.isfinite(v))
    if "error" in df:
        ok &= df["error"].fillna("").astype(str).eq("")
    return ok


def summarise(df: pd.DataFrame, by: list[str], cols: list[str], validity=None) -> pd.DataFrame:
    """Means of `cols` over valid rows per group, with `n_rows` and `n_invalid` counted beside."""
    ok = valid_mask(df, validity or cols)
    tagged = df.assign(_ok=ok)
    agg = tagged[tagged["_ok"]].groupby(by, dropna=False)[cols].mean()
    counts = tagged.groupby(by, dropna=False)["_ok"].agg(n_rows="size", n_valid="sum")
    out = counts.join(agg, how="left").reset_index()
    out["n_invalid"] = out["n_rows"] - out["n_valid"]
    return out.drop(columns="n_valid")


def rd_table(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["bpp_est", "bpp_actual", "mse255", "psnr_db", "ms_ssim", "encode_s", "decode_s"]
    out = summarise(df, ["codec", "family", "quality"], cols, validity=["bpp_actual", "mse255"])
    return out.sort_values(["family", "codec", "bpp_actual"]).reset_index(drop=True)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def fmt(v):
        if isinstance(v, float):
            return "nan" if math.isnan(v) else format(v, floatfmt)
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"
