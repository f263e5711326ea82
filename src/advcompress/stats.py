"""Seeded bootstrap intervals for every mean the tables report (numpy and pandas only).

A table's mean is only evidence with its n and an interval. Resampling is over the experimental
unit (an image, a digit, a sample), so rows that share a unit (directions, submodels of one image)
are averaged into that unit first and never counted as independent. Each interval draws from a
generator seeded by the config seed and the group's own key, so a rerun, or the same group in a
different table order, gives the same interval to the bit.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

N_BOOT = 2000
LEVEL = 0.95


def group_seed(seed: int, *key) -> int:
    """A stable 32-bit seed from the config seed and a group key (Python's hash() is salted)."""
    return zlib.crc32(repr((int(seed), *map(str, key))).encode())


def bootstrap_mean(values, seed: int = 0, n_boot: int = N_BOOT, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi): percentile bootstrap interval of the mean of the finite `values`.

    One value gives a zero-width interval at that value; none gives NaNs, never a fake zero.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size == 1:
        return mean, mean, mean
    rng = np.random.Generator(np.random.PCG64(seed))
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(lo), float(hi)


def paired_difference(a, b, seed: int = 0, n_boot: int = N_BOOT, level: float = LEVEL):
    """(mean, lo, hi) of a - b over units measured under both conditions (pairs with a NaN drop)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.shape} vs {b.shape}")
    return bootstrap_mean(a - b, seed, n_boot, level)


def unit_means(df: pd.DataFrame, by: Sequence[str], cols: Sequence[str], unit: str | Sequence[str] | None) -> pd.DataFrame:
    """One row per group and unit: the mean of each column over that unit's finite rows."""
    if unit is None:
        return df[[*by, *cols]]
    units = [unit] if isinstance(unit, str) else list(unit)
    return df.groupby([*by, *units], dropna=False, sort=False)[list(cols)].mean().reset_index()


def _finite(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """`cols` as float64 with every non-finite value (inf, NaN) as NaN: missing, never averaged."""
    vals = {c: pd.to_numeric(df[c], errors="coerce").astype(np.float64) for c in cols}
    return df.assign(**{c: v.where(np.isfinite(v)) for c, v in vals.items()})


def _by_unit(g: pd.DataFrame, unit) -> pd.DataFrame:
    """A group's unit rows in a fixed order (by the units' text), so the order rows arrive in
    (which input file came first) cannot change a seeded interval."""
    if unit is None:
        return g
    units = [unit] if isinstance(unit, str) else list(unit)
    text = g[units[0]].astype(str)
    for u in units[1:]:
        text = text + "\x1f" + g[u].astype(str)
    return g.iloc[np.argsort(text.to_numpy(), kind="stable")]


def mean_ci(df: pd.DataFrame, by: Sequence[str], cols: Sequence[str], unit=None, seed: int = 0,
            n_boot: int = N_BOOT, level: float = LEVEL) -> pd.DataFrame:
    """Per group: `n` (units), and for each column its mean with `<col>_lo` and `<col>_hi`.

    Non-finite values are dropped before averaging; `n` counts the units that entered the mean of
    the first column, so a reader sees the sample each interval rests on.
    """
    by, cols = list(by), list(cols)
    per_unit = unit_means(_finite(df, cols), by, cols, unit)
    rows = []
    for key, g in per_unit.groupby(by, dropna=False, sort=False) if by else [((), per_unit)]:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key, strict=True))
        g = _by_unit(g, unit)
        row["n"] = int(np.isfinite(g[cols[0]].to_numpy(dtype=np.float64)).sum())
        for c in cols:
            m, lo, hi = bootstrap_mean(g[c].to_numpy(dtype=np.float64), group_seed(seed, *key, c), n_boot, level)
            row |= {c: m, f"{c}_lo": lo, f"{c}_hi": hi}
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "n", *[x for c in cols for x in (c, f"{c}_lo", f"{c}_hi")]])


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the finite entries along `axis`; NaN where there are none (no warnings)."""
    ok = np.isfinite(a)
    count = ok.sum(axis=axis)
    total = np.where(ok, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _mean_of_means(cell_means: np.ndarray, cells: list[tuple]) -> np.ndarray:
    """Collapse the last axis (one entry per cell key) from the innermost level outwards.

    Each level is a NaN-skipping mean over the entries sharing the key's prefix, as pandas'
    groupby().mean() does level by level, so the statistic is the table's own mean of means.
    """
    m, keys = cell_means, cells
    for depth in range(len(cells[0]) if cells else 0, 0, -1):
        prefixes = list(dict.fromkeys(k[: depth - 1] for k in keys))
        m = np.stack([_nanmean(m[..., [p == k[: depth - 1] for k in keys]], axis=-1) for p in prefixes], axis=-1)
        keys = prefixes
    return m[..., 0]


def intervals(df: pd.DataFrame, by: Sequence[str], cols: Sequence[str], unit: str, seed: int = 0,
              valid: pd.Series | None = None, n_name: str = "n_images") -> pd.DataFrame:
    """Per group: `n_name` and `<col>_lo`, `<col>_hi` over units, to merge beside a table's means.

    `valid` (a row mask) leaves out the rows the table's own means leave out, so interval and
    mean rest on the same rows.
    """
    cols = list(cols)
    d = df if valid is None else df.assign(**{c: df[c].where(valid) for c in cols})
    ci = mean_ci(d, by, cols, unit=unit, seed=seed).drop(columns=cols)
    return ci.rename(columns={"n": n_name})


def bootstrap_nested_mean(values, cells: Sequence[tuple] | None = None, seed: int = 0, n_boot: int = N_BOOT,
                          level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi) of a mean of means, resampling whole units (rows of `values`).

    `values` is units x cells (NaN where a unit has no valid value in a cell); `cells` names each
    column by a key tuple from the outer to the inner level (e.g. (direction, submodel)). The
    statistic averages each cell over units, then each level over its cells, skipping NaN as the
    tables do. A replicate draws units with replacement and keeps all of a unit's cells, so the
    dependence between a unit's cells (one image under every submodel) stays in the interval.
    Resampling is done with count weights (n_boot x units), so memory does not grow with cells.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v.reshape(len(v), -1)
    cells = [tuple(c) for c in cells] if cells is not None else [(j,) for j in range(v.shape[1])]
    if len(cells) != v.shape[1]:
        raise ValueError(f"{v.shape[1]} value columns but {len(cells)} cell keys")
    ok = np.isfinite(v)
    v, keep = np.where(ok, v, 0.0), ok.any(axis=1)
    v, ok = v[keep], ok[keep]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan

    def stat(weights: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            cell = (weights @ v) / (weights @ ok)
        return _mean_of_means(np.where(np.isfinite(cell), cell, np.nan), cells)

    mean = float(stat(np.ones((1, n)))[0])
    if n == 1:
        return mean, mean, mean
    rng = np.random.Generator(np.random.PCG64(seed))
    draws = rng.integers(0, n, size=(n_boot, n))
    counts = np.bincount((draws + n * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n)
    counts = counts.reshape(n_boot, n).astype(np.float64)
    reps = stat(counts)
    reps = reps[np.isfinite(reps)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return mean, float(lo), float(hi)


def nested_mean_ci(df: pd.DataFrame, by: Sequence[str], cols: Sequence[str], unit: str, levels: Sequence[str],
                   seed: int = 0, n_boot: int = N_BOOT, level: float = LEVEL) -> pd.DataFrame:
    """Per group: `n` (units) and each column's mean over `levels` of means over units, with `_lo`, `_hi`.

    For a mean over directions of means over submodels of per-image deltas (Table II's mu), pass
    levels=["direction", "quality"] and unit="image": rows that repeat a unit in one cell are
    averaged first, so duplicated rows never narrow the interval. Non-finite values count as
    missing. `n` counts units with a finite value of the first column, as `mean_ci` does.
    All columns of a group share one set of resamples (seeded by the group's key).
    """
    by, cols, levels = list(by), list(cols), list(levels)
    clean = _finite(df, cols)
    rows = []
    for key, g in clean.groupby(by, dropna=False, sort=False) if by else [((), clean)]:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key, strict=True))
        cell = g.groupby([unit, *levels], dropna=False, sort=False)[cols].mean()
        wide = cell.unstack(levels) if levels else cell
        # units and cells in a fixed order, so row order cannot change a seeded interval
        wide = wide.iloc[np.argsort(wide.index.astype(str).to_numpy(), kind="stable")]
        wide = wide.iloc[:, np.argsort(np.array([repr(c) for c in wide.columns]), kind="stable")]
        row["n"] = 0
        for i, c in enumerate(cols):
            block = wide[c] if levels else wide[[c]]
            keys = list(block.columns) if levels else [()]
            keys = [k if isinstance(k, tuple) else (k,) for k in keys]
            m, lo, hi = bootstrap_nested_mean(block.to_numpy(dtype=np.float64), keys, group_seed(seed, *key),
                                              n_boot, level)
            if i == 0:
                row["n"] = int(np.isfinite(block.to_numpy(dtype=np.float64)).any(axis=1).sum())
            row |= {c: m, f"{c}_lo": lo, f"{c}_hi": hi}
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "n", *[x for c in cols for x in (c, f"{c}_lo", f"{c}_hi")]])


def proportion_ci(hits: int, n: int, seed: int = 0, n_boot: int = N_BOOT,
                  level: float = LEVEL) -> tuple[float, float, float]:
    """(rate, lo, hi) for `hits` of `n` samples, bootstrapping the samples themselves.

    For jobs that store only counts (hits, n) of 0/1 outcomes: the samples are rebuilt, so the
    interval is the one the per-sample rows would give. n = 0 gives NaNs.
    """
    hits, n = int(hits), int(n)
    if not 0 <= hits <= n:
        raise ValueError(f"{hits} hits of {n} samples")
    return bootstrap_mean(np.r_[np.ones(hits), np.zeros(n - hits)], seed, n_boot, level)


def fmt_ci(mean: float, lo: float, hi: float, spec: str = ".3g") -> str:
    """'m [lo, hi]' for Markdown tables; NaN stays visible as 'nan'."""
    if not math.isfinite(mean):
        return "nan"
    return f"{mean:{spec}} [{lo:{spec}}, {hi:{spec}}]"


def ci_columns_to_text(df: pd.DataFrame, cols: Sequence[str], spec: str = ".3g") -> pd.DataFrame:
    """Replace each `<col>`, `<col>_lo`, `<col>_hi` triple by one 'm [lo, hi]' column for Markdown."""
    out = df.copy()
    for c in cols:
        out[c] = [fmt_ci(m, lo, hi, spec) for m, lo, hi in zip(out[c], out[f"{c}_lo"], out[f"{c}_hi"], strict=True)]
        out = out.drop(columns=[f"{c}_lo", f"{c}_hi"])
    return out
