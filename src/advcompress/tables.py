"""What every study's tables share: reading the long per-image tables, valid rows, means per group
with the invalid rows counted, Markdown. The clean RD tables are the foundation's (`foundation.tables`)."""

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


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """pandas' `DataFrame.to_markdown` (tabulate's pipe format) without the index. Only the attack
    and defense table commands still call this; the other tables call pandas directly."""
    return df.to_markdown(index=False, floatfmt=floatfmt)
