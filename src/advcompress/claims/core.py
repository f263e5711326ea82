"""The verdict machinery every claim check shares: sides, statistics, aggregation, the registry.

A claim is a sentence from a paper that puts a statistic on one side of a threshold. Its check
measures that statistic from the long tables (one row per image or sample) with a seeded 95%
bootstrap interval over the experimental unit, and the verdict reads the interval only:
`holds` when it lies wholly on the claimed side, `fails` when it lies wholly on the other side,
`inconclusive` otherwise (and whenever fewer than two units exist, since one unit has no interval).
Nothing here knows an outcome; a check that could not return `fails` would be no check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from advcompress.stats import LEVEL, N_BOOT, bootstrap_mean, group_seed, paired_difference

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
MIN_UNITS = 2  # one unit gives a zero-width "interval": no evidence either way


@dataclass(frozen=True)
class Side:
    """Where the claim puts the statistic: `op` against `threshold` (`within`: [lower, threshold])."""

    op: str  # ">", ">=", "<", "<=", "within"
    threshold: float
    lower: float = math.nan  # only for "within"

    def verdict(self, lo: float, hi: float) -> str:
        """holds/fails/inconclusive from the interval; the two outcomes are exact complements."""
        t = self.threshold
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return INCONCLUSIVE
        lo, hi = _snap(lo, (t, self.lower)), _snap(hi, (t, self.lower))
        holds, fails = {
            ">": (lo > t, hi <= t),
            ">=": (lo >= t, hi < t),
            "<": (hi < t, lo >= t),
            "<=": (hi <= t, lo > t),
            "within": (self.lower <= lo and hi <= t, hi < self.lower or lo > t),
        }[self.op]
        return HOLDS if holds else FAILS if fails else INCONCLUSIVE

    def text(self) -> str:
        if self.op == "within":
            return f"in [{self.lower:g}, {self.threshold:g}]"
        return f"{self.op} {self.threshold:g}"


def _snap(x: float, points) -> float:
    """A bound equal to a threshold up to float rounding is that threshold: rates are lattices
    (k/n), and 9/450 - 0/450 must not fall below 0.02 by an ulp and decide a verdict."""
    for p in points:
        if math.isfinite(p) and math.isclose(x, p, rel_tol=1e-9, abs_tol=1e-12):
            return p
    return x


@dataclass
class Stat:
    """One statistic of one group (a codec, a net, a trigger...) with its interval and verdict."""

    statistic: str
    group: str
    value: float
    lo: float
    hi: float
    n: int
    side: Side
    note: str = ""
    verdict: str = field(init=False)

    def __post_init__(self):
        if self.n < MIN_UNITS:
            self.verdict = INCONCLUSIVE
            self.note = "; ".join(filter(None, [self.note, f"n={self.n}: no interval from fewer than {MIN_UNITS} units"]))
        else:
            self.verdict = self.side.verdict(self.lo, self.hi)


@dataclass
class Result:
    verdict: str
    stats: list[Stat]
    note: str = ""


@dataclass(frozen=True)
class Claim:
    """One headline finding: where it is stated, which long tables it reads, how it is checked."""

    id: str
    paper: str  # file name in shared/papers
    section: str
    text: str  # the claim in one sentence, with its threshold and aggregation rule
    tables: tuple[str, ...]  # table kinds (see advcompress.claims.TABLE_KINDS)
    check: Callable[[dict[str, pd.DataFrame], dict], Result]


CLAIMS: dict[str, Claim] = {}


def claim(id: str, paper: str, section: str, text: str, tables: Sequence[str]):
    """Register a check function under a unique id: the one step of adding a claim."""

    def wrap(fn):
        if id in CLAIMS:
            raise ValueError(f"claim id {id!r} registered twice")
        CLAIMS[id] = Claim(id, paper, section, " ".join(text.split()), tuple(tables), fn)
        return fn

    return wrap


def inconclusive(reason: str) -> Result:
    return Result(INCONCLUSIVE, [], reason)


# -- statistics over units ------------------------------------------------------------------------


def _seed(settings: dict, *key) -> int:
    return group_seed(int(settings.get("seed", 0)), *key)


def finite(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").replace([np.inf, -np.inf], np.nan)


def unit_means(df: pd.DataFrame, unit: str | list[str], col: str) -> pd.Series:
    """Mean of `col` per unit over its finite rows (directions, submodels, attacks of one image)."""
    return df.assign(_v=finite(df[col])).groupby(unit, sort=True)["_v"].mean()


def mean_stat(values, name: str, group: str, side: Side, settings: dict, claim_id: str,
              transform: Callable | None = None, note: str = "") -> Stat:
    """Bootstrap interval of the mean of per-unit `values`; `transform` maps value and bounds
    monotonically (e.g. a mean log2 ratio to a ratio) before the side reads them."""
    v = finite(pd.Series(values, dtype="float64")).to_numpy()
    n = int(np.isfinite(v).sum())
    m, lo, hi = bootstrap_mean(v, _seed(settings, claim_id, name, group))
    if transform is not None:
        m, lo, hi = transform(m), transform(lo), transform(hi)
    return Stat(name, group, m, lo, hi, n, side, note)


def paired_stat(a: pd.Series, b: pd.Series, name: str, group: str, side: Side, settings: dict,
                claim_id: str, transform: Callable | None = None, note: str = "") -> Stat:
    """Mean of a - b over the units (index) present and finite in both, via `paired_difference`."""
    j = pd.concat([finite(a).rename("a"), finite(b).rename("b")], axis=1, join="inner").dropna()
    m, lo, hi = paired_difference(j["a"].to_numpy(), j["b"].to_numpy(), _seed(settings, claim_id, name, group))
    if transform is not None:
        m, lo, hi = transform(m), transform(lo), transform(hi)
    return Stat(name, group, m, lo, hi, len(j), side, note)


def proportion_difference(hits_a: int, n_a: int, hits_b: int, n_b: int, name: str, group: str, side: Side,
                          settings: dict, claim_id: str, note: str = "") -> Stat:
    """Rate a - rate b from counts alone (tables that keep hits and n, not per-sample outcomes).

    Without sample ids the two sets cannot be paired, so each is resampled on its own: wider than a
    paired interval when both rates come from the same samples, never narrower.
    """
    n_a, n_b = int(n_a), int(n_b)
    if n_a == 0 or n_b == 0:
        return Stat(name, group, math.nan, math.nan, math.nan, min(n_a, n_b), side, note)
    rng = np.random.Generator(np.random.PCG64(_seed(settings, claim_id, name, group)))
    da = rng.binomial(n_a, hits_a / n_a, N_BOOT) / n_a
    db = rng.binomial(n_b, hits_b / n_b, N_BOOT) / n_b
    alpha = (1 - LEVEL) / 2
    lo, hi = np.quantile(da - db, [alpha, 1 - alpha])
    return Stat(name, group, hits_a / n_a - hits_b / n_b, float(lo), float(hi), min(n_a, n_b), side, note)


def proportion(hits: int, n: int, name: str, group: str, side: Side, settings: dict, claim_id: str,
               note: str = "") -> Stat:
    """A rate from counts: the bootstrap of the mean of n Bernoulli outcomes, hits of them ones."""
    n, hits = int(n), int(hits)
    return mean_stat(np.r_[np.ones(hits), np.zeros(n - hits)], name, group, side, settings, claim_id, note=note)


def log2_ratio_to_ratio(v: float) -> float:
    return 2.0**v if math.isfinite(v) else math.nan


# -- aggregation over groups ----------------------------------------------------------------------


def _counts(verdicts: Sequence[str]) -> str:
    return ", ".join(f"{verdicts.count(v)} {v}" for v in (HOLDS, FAILS, INCONCLUSIVE) if verdicts.count(v))


def every(stats: list[Stat], what: str) -> Result:
    """Holds if every statistic holds; fails if any fails; inconclusive otherwise (or if none)."""
    if not stats:
        return inconclusive(f"no {what} in the tables")
    v = [s.verdict for s in stats]
    verdict = FAILS if FAILS in v else HOLDS if all(x == HOLDS for x in v) else INCONCLUSIVE
    return Result(verdict, stats, f"every {what} must hold: {_counts(v)}")


def most(stats: list[Stat], what: str) -> Result:
    """Holds if more than half of the groups hold; fails if at least half fail (then a majority
    can no longer hold); inconclusive otherwise. A group with several statistics (column `group`)
    holds if all of them hold and fails if any fails."""
    if not stats:
        return inconclusive(f"no {what} in the tables")
    groups: dict[str, list[str]] = {}
    for s in stats:
        groups.setdefault(s.group, []).append(s.verdict)
    gv = [FAILS if FAILS in v else HOLDS if all(x == HOLDS for x in v) else INCONCLUSIVE for v in groups.values()]
    k = len(gv)
    verdict = HOLDS if gv.count(HOLDS) > k / 2 else FAILS if gv.count(FAILS) >= k / 2 else INCONCLUSIVE
    return Result(verdict, stats, f"most {what} (more than half of {k}) must hold: {_counts(gv)}")
