"""Bjøntegaard deltas (BD-PSNR, BD-rate) between two RD curves, over their overlap only.

Curves are interpolated piecewise-cubically (PCHIP, as the JVET common test conditions do) in
log10 of the rate, which needs no fourth point and does not overshoot; three-point learned
ladders are therefore fine. Outside the overlap nothing is extrapolated: no overlap gives NaN.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator


def _curve(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Finite points sorted by x, with points of equal x averaged (PCHIP needs x strictly rising)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    ux, inv = np.unique(x, return_inverse=True)
    uy = np.bincount(inv, weights=y) / np.bincount(inv)
    return ux, uy


def _mean_gap(x_a, y_a, x_b, y_b) -> tuple[float, float, float]:
    """Mean of y_b(x) - y_a(x) over the overlap of the two x ranges, with that range."""
    xa, ya = _curve(x_a, y_a)
    xb, yb = _curve(x_b, y_b)
    if len(xa) < 2 or len(xb) < 2:
        return math.nan, math.nan, math.nan
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        return math.nan, lo, hi
    ia = PchipInterpolator(xa, ya).integrate(lo, hi)
    ib = PchipInterpolator(xb, yb).integrate(lo, hi)
    return float((ib - ia) / (hi - lo)), float(lo), float(hi)


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PCHIP knot derivatives of many curves at once (rows), by the rules scipy's
    PchipInterpolator uses: a weighted harmonic mean of the neighbouring secants inside (zero where
    they change sign), the shape-preserving three-point formula at the ends, linear for two knots."""
    h = np.diff(x, axis=1)
    m = np.diff(y, axis=1) / h
    d = np.empty_like(y)
    if x.shape[1] == 2:
        d[:] = m
        return d
    w1, w2 = 2 * h[:, 1:] + h[:, :-1], h[:, 1:] + 2 * h[:, :-1]
    same = (np.sign(m[:, 1:]) == np.sign(m[:, :-1])) & (m[:, 1:] != 0) & (m[:, :-1] != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d[:, 1:-1] = np.where(same, (w1 + w2) / (w1 / m[:, :-1] + w2 / m[:, 1:]), 0.0)
    for end, (h0, h1, m0, m1) in [(0, (h[:, 0], h[:, 1], m[:, 0], m[:, 1])),
                                  (-1, (h[:, -1], h[:, -2], m[:, -1], m[:, -2]))]:
        e = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        e = np.where(np.sign(e) != np.sign(m0), 0.0, e)
        d[:, end] = np.where((np.sign(m0) != np.sign(m1)) & (np.abs(e) > 3 * np.abs(m0)), 3 * m0, e)
    return d


def _pchip_integral_to(x: np.ndarray, y: np.ndarray, d: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Integral of each row's PCHIP curve from its first knot to `at` (inside the knot range)."""
    h = np.diff(x, axis=1)
    # integral of the cubic Hermite segment from its left knot over a fraction t of its width
    def seg(k, t):
        hk = np.take_along_axis(h, k, 1)[:, 0]
        y0, y1 = (np.take_along_axis(y, k + i, 1)[:, 0] for i in (0, 1))
        d0, d1 = (np.take_along_axis(d, k + i, 1)[:, 0] for i in (0, 1))
        t2, t3, t4 = t**2, t**3, t**4
        return hk * (y0 * (t4 / 2 - t3 + t) + hk * d0 * (t4 / 4 - 2 * t3 / 3 + t2 / 2)
                     + y1 * (t3 - t4 / 2) + hk * d1 * (t4 / 4 - t3 / 3))
    n = x.shape[1] - 1
    full = np.stack([seg(np.full((len(x), 1), k), np.ones(len(x))) for k in range(n)], axis=1)
    k = np.clip((x[:, 1:-1] <= at[:, None]).sum(axis=1), 0, n - 1)[:, None]
    before = np.where(np.arange(n)[None, :] < k, full, 0.0).sum(axis=1)
    t = (at - np.take_along_axis(x, k, 1)[:, 0]) / np.take_along_axis(h, k, 1)[:, 0]
    return before + seg(k, t)


def _mean_gaps(x_a, y_a, x_b, y_b) -> np.ndarray:
    """`_mean_gap` of many curve pairs (one per row) at once; rows whose knots are not finite or
    not distinct take the one-pair path, which merges or drops those points."""
    x_a, y_a, x_b, y_b = (np.atleast_2d(np.asarray(v, dtype=np.float64)) for v in (x_a, y_a, x_b, y_b))
    out = np.full(len(x_a), math.nan)
    oa, ob = np.argsort(x_a, axis=1), np.argsort(x_b, axis=1)
    xa, ya = np.take_along_axis(x_a, oa, 1), np.take_along_axis(y_a, oa, 1)
    xb, yb = np.take_along_axis(x_b, ob, 1), np.take_along_axis(y_b, ob, 1)
    regular = np.ones(len(out), bool)
    for x, y in ((xa, ya), (xb, yb)):
        regular &= np.isfinite(x).all(1) & np.isfinite(y).all(1) & (np.diff(x, axis=1) > 0).all(1)
    if x_a.shape[1] < 2 or x_b.shape[1] < 2:
        regular[:] = False
    for i in np.flatnonzero(~regular):
        out[i] = _mean_gap(x_a[i], y_a[i], x_b[i], y_b[i])[0]
    lo, hi = np.maximum(xa[:, 0], xb[:, 0]), np.minimum(xa[:, -1], xb[:, -1])
    r = regular & (hi > lo)
    if r.any():
        xa, ya, xb, yb, lo, hi = xa[r], ya[r], xb[r], yb[r], lo[r], hi[r]
        da, db = _pchip_slopes(xa, ya), _pchip_slopes(xb, yb)
        ia = _pchip_integral_to(xa, ya, da, hi) - _pchip_integral_to(xa, ya, da, lo)
        ib = _pchip_integral_to(xb, yb, db, hi) - _pchip_integral_to(xb, yb, db, lo)
        out[r] = (ib - ia) / (hi - lo)
    return out


def bd_many(rate_ref, psnr_ref, rate_test, psnr_test) -> tuple[np.ndarray, np.ndarray]:
    """(BD-PSNR dB, BD-rate %) of many curve pairs, one per row: a bootstrap's thousands of
    resampled ladders in one pass instead of two interpolator objects per pair."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lr, lt = np.log10(rate_ref), np.log10(rate_test)
        psnr = _mean_gaps(lr, psnr_ref, lt, psnr_test)
        gap = _mean_gaps(psnr_ref, lr, psnr_test, lt)
    return psnr, 100 * (10**gap - 1)


def bd_psnr(rate_ref, psnr_ref, rate_test, psnr_test) -> float:
    """Mean PSNR gain (dB) of the test curve over the reference at equal rate; > 0 is better."""
    with np.errstate(divide="ignore", invalid="ignore"):
        gap, _, _ = _mean_gap(np.log10(rate_ref), psnr_ref, np.log10(rate_test), psnr_test)
    return gap


def bd_rate(rate_ref, psnr_ref, rate_test, psnr_test) -> float:
    """Mean rate change (%) of the test curve against the reference at equal PSNR; < 0 is better."""
    with np.errstate(divide="ignore", invalid="ignore"):
        gap, _, _ = _mean_gap(psnr_ref, np.log10(rate_ref), psnr_test, np.log10(rate_test))
    return 100 * (10**gap - 1) if math.isfinite(gap) else math.nan


def overlap_bpp(rate_ref, rate_test) -> tuple[float, float]:
    """The shared rate range (bpp) the BD-PSNR integral runs over; (nan, nan) without overlap."""
    a, b = _curve(rate_ref, rate_ref)[0], _curve(rate_test, rate_test)[0]
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    lo, hi = max(a[0], b[0]), min(a[-1], b[-1])
    return (float(lo), float(hi)) if hi > lo else (math.nan, math.nan)
