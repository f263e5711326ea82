"""BD-PSNR and BD-rate against cases computed by hand, and the rd_bd table built on them."""

import math

import numpy as np
import pandas as pd
import pytest

from advcompress.bjontegaard import bd_many, bd_psnr, bd_rate, overlap_bpp
from advcompress.foundation.tables import rd_bd

RATES = np.array([0.25, 0.5, 1.0])


def test_parallel_lines_by_hand():
    # PSNR = 30 + 10 log10(R) against 31 + 10 log10(R): +1 dB everywhere; at equal PSNR the test
    # curve needs log10 R smaller by 0.1, i.e. 10^-0.1 - 1 = -20.57 % of the rate.
    ref = 30 + 10 * np.log10(RATES)
    assert bd_psnr(RATES, ref, RATES, ref + 1) == pytest.approx(1.0, abs=1e-9)
    assert bd_rate(RATES, ref, RATES, ref + 1) == pytest.approx(100 * (10**-0.1 - 1), abs=1e-6)
    assert bd_psnr(RATES, ref + 1, RATES, ref) == pytest.approx(-1.0, abs=1e-9)


def test_integrates_over_the_overlap_only():
    # ref: 30 + 10x on x = log10 R in [0, 1]; test: 30 + 20x on [0, 0.5]. Over the overlap [0, 0.5]
    # the gap 10x averages 2.5 dB; extrapolating the test line to x = 1 would give 5 dB.
    ref_r, ref_p = np.array([1.0, 10.0]), np.array([30.0, 40.0])
    test_r, test_p = np.array([1.0, 10**0.5]), np.array([30.0, 40.0])
    assert bd_psnr(ref_r, ref_p, test_r, test_p) == pytest.approx(2.5, abs=1e-9)
    assert overlap_bpp(ref_r, test_r) == pytest.approx((1.0, 10**0.5))


def test_no_overlap_is_nan_not_extrapolated():
    ref = 30 + 10 * np.log10(RATES)
    assert math.isnan(bd_psnr(RATES, ref, RATES * 8, ref + 9))
    assert math.isnan(bd_rate(RATES, ref, RATES, ref + 50))
    assert all(math.isnan(v) for v in overlap_bpp(RATES, RATES * 8))


def test_repeated_rate_points_are_merged():
    # JPEG quality 1 and 2 give the same file: PCHIP needs strictly rising x, so equal points merge.
    r = np.array([0.5, 0.5, 1.0, 2.0])
    p = 30 + 10 * np.log10(r)
    assert bd_psnr(r, p, r, p + 2) == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_batched_deltas_equal_one_pair_at_a_time(n):
    # Noisy, unsorted ladders exercise every PCHIP slope rule (sign changes, the clipped ends);
    # the last rows are irregular: a repeated rate, a NaN, and no overlap.
    rng = np.random.default_rng(n)
    rate_a, rate_b = rng.uniform(0.1, 2, (2, 300, n))
    psnr_a = 30 + 10 * np.log10(rate_a) + rng.normal(0, 1.5, rate_a.shape)
    psnr_b = 30 + 10 * np.log10(rate_b) + rng.normal(0, 1.5, rate_b.shape)
    rate_b[-3, :2] = rate_b[-3, 0]
    psnr_a[-2, 0] = np.nan
    rate_b[-1] = rate_a[-1].max() * np.linspace(2, 3, n)
    got_psnr, got_rate = bd_many(rate_a, psnr_a, rate_b, psnr_b)
    want_psnr = [bd_psnr(*(v[i] for v in (rate_a, psnr_a, rate_b, psnr_b))) for i in range(300)]
    want_rate = [bd_rate(*(v[i] for v in (rate_a, psnr_a, rate_b, psnr_b))) for i in range(300)]
    np.testing.assert_allclose(got_psnr, want_psnr, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got_rate, want_rate, rtol=1e-9, atol=1e-9)
    assert np.isnan(got_psnr[-1]) and np.isfinite(got_psnr[:-3]).mean() > 0.5


def _rows(codec, family, shift_db):
    out = []
    for image, offset in [("a", 0.0), ("b", 3.0), ("c", -1.0)]:
        for q, r in enumerate(RATES):
            out.append({"image": image, "codec": codec, "family": family, "quality": q,
                        "bpp_actual": r * (1 + 0.1 * offset), "mse255": 10.0, "error": "",
                        "psnr_db": 30 + 10 * math.log10(r) + offset + shift_db})
    return out


def test_rd_bd_table_is_paired_over_images_and_seeded():
    df = pd.DataFrame(_rows("jpeg", "classic", 0) + _rows("better", "learned", 1.5) + _rows("worse", "learned", -2))
    t = rd_bd(df, seed=3, n_boot=200).set_index("codec")  # the logic, at a fifth of the resamples
    assert set(t.index) == {"better", "worse"}
    assert (t["n_images"] == 3).all()
    # A constant shift on every image is the same in every resample: a zero-width paired interval.
    assert t.loc["better", "bd_psnr_db"] == pytest.approx(1.5, abs=1e-9)
    assert t.loc["better", "bd_psnr_db_lo"] == pytest.approx(1.5, abs=1e-9)
    assert t.loc["better", "bd_psnr_db_hi"] == pytest.approx(1.5, abs=1e-9)
    assert t.loc["worse", "bd_psnr_db"] == pytest.approx(-2.0, abs=1e-9)
    assert t.loc["better", "bd_rate_pct"] < 0 < t.loc["worse", "bd_rate_pct"]
    pd.testing.assert_frame_equal(rd_bd(df, seed=3, n_boot=200), rd_bd(df, seed=3, n_boot=200))


def test_rd_bd_interval_reflects_image_noise():
    rows = _rows("jpeg", "classic", 0)
    noisy = _rows("noisy", "learned", 0.0)
    for r, bump in zip(noisy, np.repeat([2.0, -1.0, 0.5], 3), strict=True):
        r["psnr_db"] += bump
    t = rd_bd(pd.DataFrame(rows + noisy), seed=0, n_boot=200).set_index("codec")
    lo, mid, hi = t.loc["noisy", ["bd_psnr_db_lo", "bd_psnr_db", "bd_psnr_db_hi"]]
    assert lo < mid < hi and mid == pytest.approx(0.5, abs=1e-9)


def test_rd_bd_without_overlap_has_no_interval():
    low = _rows("tiny", "learned", 5.0)
    for r in low:
        r["bpp_actual"] *= 0.2  # wholly below JPEG's rates
    t = rd_bd(pd.DataFrame(_rows("jpeg", "classic", 0) + low), n_boot=200).set_index("codec")
    assert t.loc["tiny", ["bd_psnr_db", "bd_psnr_db_lo", "bd_psnr_db_hi"]].isna().all()


def test_rd_bd_needs_the_anchor():
    with pytest.raises(ValueError, match="anchor"):
        rd_bd(pd.DataFrame(_rows("webp", "classic", 0)))
