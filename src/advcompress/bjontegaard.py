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
