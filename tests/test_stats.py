"""Seeded bootstrap intervals (advcompress.stats) and every summary table that carries them.

Each table test builds a small long table in-process: n counts units (images, samples), the
interval brackets the mean, and duplicating every row of the images leaves n and the interval
unchanged (the unit is the image, never the row).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from advcompress.stats import (
    bootstrap_mean,
    bootstrap_nested_mean,
    ci_columns_to_text,
    fmt_ci,
    mean_ci,
    nested_mean_ci,
    proportion_ci,
)
from tests.conftest import read_markdown


def _long(n_units=12, rows_per_unit=3, groups=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"g": g, "image": f"i{i}", "x": rng.normal(i, 1.0), "y": rng.normal()}
                         for g in groups for i in range(n_units) for _ in range(rows_per_unit)])


# -- the bootstrap itself ---------------------------------------------------------------------------


def test_same_seed_gives_a_bit_identical_table_and_another_seed_does_not():
    df = _long()
    a = mean_ci(df, ["g"], ["x", "y"], unit="image", seed=3)
    pd.testing.assert_frame_equal(a, mean_ci(df, ["g"], ["x", "y"], unit="image", seed=3), check_exact=True)
    b = mean_ci(df, ["g"], ["x", "y"], unit="image", seed=4)
    assert not np.array_equal(a["x_lo"], b["x_lo"])
    n1 = nested_mean_ci(df, ["g"], ["x"], "image", [], seed=3)
    pd.testing.assert_frame_equal(n1, nested_mean_ci(df, ["g"], ["x"], "image", [], seed=3), check_exact=True)


@pytest.mark.parametrize("fn", ["mean_ci", "nested_mean_ci"])
def test_group_and_row_order_do_not_change_a_groups_interval(fn):
    df = _long()
    shuffled = df.sample(frac=1.0, random_state=1)  # other group order, other unit order
    if fn == "mean_ci":
        a, b = (mean_ci(d, ["g"], ["x"], unit="image", seed=0) for d in (df, shuffled))
    else:
        a, b = (nested_mean_ci(d, ["g"], ["x"], "image", [], seed=0) for d in (df, shuffled))
    assert list(a["g"]) != list(b["g"])  # the group order did change ...
    a, b = a.set_index("g").sort_index(), b.set_index("g").sort_index()
    np.testing.assert_array_equal(a[["x", "x_lo", "x_hi", "n"]], b[["x", "x_lo", "x_hi", "n"]])  # ... intervals did not


def test_interval_contains_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (10, 40, 640):
        m, lo, hi = bootstrap_mean(rng.normal(size=n), seed=1)
        assert lo <= m <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] == pytest.approx(2 * 1.96 / math.sqrt(640), rel=0.15)  # the normal theory width


def test_known_cases_equal_values_one_unit_and_no_units():
    assert bootstrap_mean([2.5] * 7) == (2.5, 2.5, 2.5)
    assert bootstrap_mean([4.0]) == (4.0, 4.0, 4.0)
    assert all(math.isnan(v) for v in bootstrap_mean([math.nan, math.inf]))
    df = pd.DataFrame({"g": "a", "image": ["p", "p", "p", "q"], "x": [1.0, 1.0, 1.0, 1.0]})
    t = mean_ci(df, ["g"], ["x"], unit="image")
    assert t.loc[0, "n"] == 2  # units, not rows
    assert (t.loc[0, "x_lo"], t.loc[0, "x_hi"]) == (1.0, 1.0)


def test_proportion_rebuilds_the_samples():
    assert proportion_ci(0, 50) == (0.0, 0.0, 0.0)
    assert all(math.isnan(v) for v in proportion_ci(0, 0))
    assert proportion_ci(7, 20, seed=5) == bootstrap_mean([1.0] * 7 + [0.0] * 13, seed=5)
    narrow, wide = proportion_ci(70, 200), proportion_ci(7, 20)
    assert narrow[2] - narrow[1] < wide[2] - wide[1]
    with pytest.raises(ValueError):
        proportion_ci(5, 3)


def test_nested_mean_is_the_tables_mean_of_means_and_resamples_whole_units():
    # 3 units x cells (direction, submodel); one NaN: the cell mean skips it, as pandas does
    v = np.array([[1.0, 2.0, 10.0], [3.0, np.nan, 20.0], [5.0, 6.0, 30.0]])
    cells = [("d1", 1), ("d1", 2), ("d2", 1)]
    m, lo, hi = bootstrap_nested_mean(v, cells, seed=0)
    assert m == pytest.approx(np.mean([np.mean([3.0, 4.0]), 20.0]))
    assert lo <= m <= hi
    # a unit that is identical under every submodel: the interval is the one over units (n=40),
    # not over 40 x 4 unit-cells (which would be half as wide)
    rng = np.random.default_rng(2)
    per_unit = rng.normal(size=40)
    _, lo1, hi1 = bootstrap_nested_mean(np.repeat(per_unit[:, None], 4, axis=1), [(0, q) for q in range(4)], seed=1)
    _, lo0, hi0 = bootstrap_mean(per_unit, seed=1)
    assert hi1 - lo1 == pytest.approx(hi0 - lo0, rel=0.2)


def test_markdown_text_keeps_mean_and_bounds():
    t = pd.DataFrame({"m": ["a"], "x": [0.5], "x_lo": [0.25], "x_hi": [0.75], "n": [8]})
    out = ci_columns_to_text(t, ["x"])
    assert list(out.columns) == ["m", "x", "n"] and out.loc[0, "x"] == "0.5 [0.25, 0.75]"


# -- Table II and its per-direction / per-submodel aggregates --------------------------------------------


def _attack_rows(n_images=8, directions=("sra", "sda"), qualities=(1, 2, 3), model="m", attack="srda", seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        level = rng.normal(0, 1)  # images differ far more than submodels do: the image is the unit
        for d in directions:
            for q in qualities:
                dr, dd = level + 0.05 * rng.normal(), 10 * level + 0.5 * rng.normal()
                rows.append({"model": model, "attack": attack, "direction": d, "quality": q, "image": f"img{i}",
                             "transfer": False, "proxy": "ste", "error": "", "bpp_actual": 1.0 + dr,
                             "mse255": 20.0 + dd, "bpp_actual_clean": 1.0, "mse255_clean": 20.0,
                             "dR_actual_bpp": dr, "dR_est_bpp": dr, "dD_mse255": dd})
    return pd.DataFrame(rows)


def _check_ci(t, col, n_col, n):
    assert (t[n_col] == n).all()
    assert (t[f"{col}_lo"] <= t[col] + 1e-12).all() and (t[col] <= t[f"{col}_hi"] + 1e-12).all()
    assert (t[f"{col}_hi"] > t[f"{col}_lo"]).all()


def test_table2_intervals_are_over_images_and_state_the_proxy():
    from advcompress.attack.tables import table2

    rows = pd.concat([_attack_rows(), _attack_rows(attack="arda", seed=1),
                      _attack_rows(model="k", seed=2)], ignore_index=True)
    t = table2(rows, seed=0).set_index("model")
    assert list(t["proxy"]) == ["ste", "ste"]
    for a in ("srda", "arda"):
        _check_ci(t.loc[["m"]], f"{a}_mu_dD_mse255", f"{a}_n_images", 8)
        _check_ci(t.loc[["m"]], f"{a}_mu_dR_actual_bpp", f"{a}_n_images", 8)
    assert "srda_sigma_dD_mse255" in t and t.loc["m", "srda_n_rows"] == 48  # the paper's columns stay
    # every image's rows twice: same mu, same n, same interval (a row-level bootstrap would narrow it)
    t2 = table2(pd.concat([rows, rows], ignore_index=True), seed=0).set_index("model")
    for c in ["srda_mu_dD_mse255", "srda_mu_dD_mse255_lo", "srda_mu_dD_mse255_hi", "srda_n_images"]:
        assert t2.loc["m", c] == pytest.approx(t.loc["m", c], rel=1e-12)
    # resampling image x submodel cells instead of images would shrink the interval ~ sqrt(6)
    level = rows[(rows.model == "m") & (rows.attack == "srda")].groupby("image")["dD_mse255"].mean()
    _, lo, hi = bootstrap_mean(level.to_numpy(), seed=9)
    width = t.loc["m", "srda_mu_dD_mse255_hi"] - t.loc["m", "srda_mu_dD_mse255_lo"]
    assert width == pytest.approx(hi - lo, rel=0.35)


def test_table2_interval_leaves_out_invalid_rows_and_states_a_missing_proxy():
    from advcompress.attack.tables import table2

    rows = _attack_rows(n_images=6)
    bad = rows["image"] == "img0"
    rows.loc[bad, "mse255"] = math.nan
    rows.loc[bad, "dD_mse255"] = 1e6  # never reaches a mean or an interval
    t = table2(rows.drop(columns="proxy"))
    assert t.loc[0, "proxy"] == ""
    assert t.loc[0, "srda_n_images"] == 5 and t.loc[0, "srda_n_invalid"] == 6
    assert t.loc[0, "srda_mu_dD_mse255_hi"] < 1e3


def test_per_direction_and_per_submodel_intervals():
    from advcompress.attack.tables import per_direction, per_submodel

    rows = _attack_rows(n_images=10)
    pdir = per_direction(rows)
    assert len(pdir) == 2
    _check_ci(pdir, "mu_dD_mse255", "n_images", 10)
    sub = per_submodel(rows)
    assert len(sub) == 6
    _check_ci(sub, "dD_mse255", "n_images", 10)
    doubled = per_direction(pd.concat([rows, rows]))
    np.testing.assert_allclose(doubled[["mu_dD_mse255_lo", "mu_dD_mse255_hi"]], pdir[["mu_dD_mse255_lo",
                                                                                      "mu_dD_mse255_hi"]])


# -- Table III of the defense study ------------------------------------------------------------------------


def test_robustness_and_table3_carry_intervals_over_images():
    from advcompress.defense.tables import robustness, table3

    rows = pd.concat([_attack_rows(model="m"), _attack_rows(model="m@at-srda", seed=3)], ignore_index=True)
    labels = {"m": {"model": "m", "defense": "none"}, "m@at-srda": {"model": "m", "defense": "AT"}}
    summary = robustness(rows, labels)
    _check_ci(summary, "mu_dR_actual_bpp", "n_images", 8)
    t = table3(summary, {"AT": "srda"})
    for p in ("none", "at_srda"):
        _check_ci(t, f"{p}_mu_dD_mse255", f"{p}_n_images", 8)
    again = table3(robustness(pd.concat([rows, rows]), labels), {"AT": "srda"})
    np.testing.assert_allclose(again[["none_mu_dD_mse255_lo", "none_mu_dD_mse255_hi"]],
                               t[["none_mu_dD_mse255_lo", "none_mu_dD_mse255_hi"]])


def test_defense_bars_draw_the_tables_interval(tmp_path):
    import matplotlib.pyplot as plt

    from advcompress.attack.plots import ci_bars

    s = pd.DataFrame({"model": ["m", "m"], "defense": ["none", "AT"], "y": [2.0, 1.0],
                      "y_lo": [1.5, 0.25], "y_hi": [3.0, 1.5]})
    fig, ax = plt.subplots()
    ci_bars(ax, s, "model", "defense", "y")
    ends = sorted(tuple(sorted(seg[:, 1])) for c in ax.collections for seg in c.get_segments())
    assert ends == [(0.25, 1.5), (1.5, 3.0)]
    plt.close(fig)


# -- the classifier-defense tables ------------------------------------------------------------------------


def _classify_rows(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"net": "cnn", "attack": "ifgsm", "defense": d, "through": th, "eps_255": e, "image": i,
                          "correct": float(rng.random() < p), "error": ""}
                         for d, p in [("jpeg@50", 0.7), ("none", 0.2)] for th in (False, True) for e in (2.0, 8.0)
                         for i in range(n)])


def test_classify_accuracy_has_an_interval_over_images_per_cell():
    from advcompress.classify.report import build_table

    rows = _classify_rows()
    t, md = build_table("linf", rows, {"seed": 0})
    _check_ci(t, "accuracy", "n_images", 30)
    # the Markdown pivots eps into columns: each cell is its row's 'accuracy [lo, hi]', beside n
    wide = read_markdown(md).set_index(["net", "attack", "defense", "through"])
    assert list(wide.columns) == ["n", "eps_255=2", "eps_255=8"] and (wide["n"] == "30").all()
    r = t.set_index(["defense", "through", "eps_255"]).loc[("jpeg@50", True, 8.0)]
    assert wide.loc[("cnn", "ifgsm", "jpeg@50", "True"), "eps_255=8"] == fmt_ci(
        r["accuracy"], r["accuracy_lo"], r["accuracy_hi"], ".3f")
    rows.loc[rows.index[0], "error"] = "boom"  # an invalid row, its 0/1 still there: out of mean and n
    t1 = build_table("linf", rows, {"seed": 0})[0]
    assert sorted(t1["n_images"]) == [29] + [30] * 7
    t2 = build_table("linf", pd.concat([rows, rows]), {"seed": 0})[0]
    np.testing.assert_array_equal(t2[["accuracy_lo", "accuracy_hi", "n_images"]],
                                  t1[["accuracy_lo", "accuracy_hi", "n_images"]])


def test_classify_bpp_and_adaptive_tables_keep_their_means_and_add_intervals():
    from advcompress.classify.report import build_table

    rng = np.random.default_rng(0)
    bpp = pd.DataFrame([{"net": "cnn", "codec": "jpeg", "quality": q, "defense": f"jpeg@{q}", "image": i,
                         "bpp_actual": rng.uniform(0.5, 2), "mse255": rng.uniform(1, 9), "psnr_db": rng.uniform(25, 35),
                         "correct": float(rng.random() < 0.8), "error": ""} for q in (10, 50) for i in range(12)])
    t, md = build_table("bpp", bpp, {})
    _check_ci(t, "clean_accuracy", "n_images", 12)
    _check_ci(t, "bpp_actual", "n_images", 12)
    assert "clean_accuracy" in md and "n_images" in md


def test_classify_figure_draws_the_tables_interval(tmp_path):
    from advcompress.classify.report import _ci_grid, _ci_lines, build_table
    from advcompress.figure_style import figure

    t = build_table("linf", _classify_rows(), {"seed": 0})[0]
    with figure(tmp_path / "linf.pdf", **_ci_grid(t, "attack", "net")) as (fig, axes):
        _ci_lines(fig, axes, t, "eps_255", "attack", "defense", "net", "eps")
        drawn = sorted(round(float(y), 9) for ax in fig.axes for c in ax.collections
                       for seg in c.get_segments() for y in seg[:, 1])
    assert drawn == sorted(round(float(v), 9) for v in [*t["accuracy_lo"], *t["accuracy_hi"]])


# -- the backdoor tables ----------------------------------------------------------------------------------


def _backdoor_rows(runs=(("r1", 90, 100, 40, 50), ("r2", 9, 10, 4, 5))):
    rows = []
    for run, ta_h, ta_n, asr_h, asr_n in runs:
        base = {"run": run, "arch": "resnet18", "method": "fc", "trigger": "patch", "alpha": 0.1, "ir": 0.1,
                "epochs": 4, "lr": 0.02, "n_clean": 1000,
                "n_backdoor": 10, "train_codecs": "jpeg"}
        rows += [{**base, "metric": "ta", "codec": "none", "quality": "", "hits": ta_h, "n": ta_n, "rate": ta_h / ta_n,
                  "note": ""},
                 {**base, "metric": "asr", "codec": "none", "quality": "", "hits": asr_h, "n": asr_n,
                  "rate": asr_h / asr_n, "note": ""},
                 {**base, "metric": "asr", "codec": "jpeg", "quality": "50", "hits": asr_h // 2, "n": asr_n - 1,
                  "rate": (asr_h // 2) / (asr_n - 1), "note": ""}]
    return pd.DataFrame(rows)


def test_backdoor_rates_have_intervals_over_test_samples():
    from advcompress.backdoor.report import _wide, classifier_markdown

    t = _wide(_backdoor_rows(), {"jpeg": 50}, seed=0).set_index("run")
    assert t.loc["r1", "n_ta"] == 100 and t.loc["r1", "n_asr"] == 50 and t.loc["r1", "n_asr_jpeg_q50"] == 49
    for c in ("ta", "asr", "asr_jpeg_q50"):
        assert ((t[f"{c}_lo"] <= t[c]) & (t[c] <= t[f"{c}_hi"])).all()
    # same rates, ten times the samples: a narrower interval
    assert (t.loc["r1", "ta_hi"] - t.loc["r1", "ta_lo"]) < (t.loc["r2", "ta_hi"] - t.loc["r2", "ta_lo"])
    assert t.loc["r1", "asr_lo"] == proportion_ci(40, 50, seed=_seed(0, "r1", "asr", "none"))[1]
    md = classifier_markdown(t.reset_index())
    assert "(n=49)" in md and "n_test" in md and "0.900 [" in md


def _seed(seed, *key):
    from advcompress.stats import group_seed

    return group_seed(seed, *key)


def _lic_rows(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"model": "m", "quality": 2, "encoder": enc, "trigger": trig, "image": f"p{i}",
                          "bpp_actual": rng.uniform(0.2, 1.0), "bpp_est": rng.uniform(0.2, 1.0),
                          "psnr_db": rng.uniform(25, 35), "psnr_vs_clean_db": rng.uniform(20, 35),
                          "trigger_mse": 0.0, "error": ""}
                         for enc in ("original", "backdoored") for trig in ("none", "bpp") for i in range(n)])


def test_lic_tables_have_intervals_over_images():
    from advcompress.backdoor.report import lic_markdown, lic_table

    photo = _lic_rows()
    digits = pd.DataFrame([{"model": "m", "quality": 2, "encoder": "backdoored", "trigger": "ds", "image": j,
                            "pred": j % 3, "hit_target": j % 3 == 0, "correct": j % 2 == 0, "bpp_actual": 0.5,
                            "psnr_vs_clean_db": 30.0, "error": ""} for j in range(12)])
    t = lic_table(pd.concat([photo, digits], ignore_index=True), "table3", {"seed": 0})
    ph, ds = t[t["ds_asr"].isna()], t[t["ds_asr"].notna()]
    _check_ci(ph, "psnr_vs_clean_db", "n_images", 10)
    _check_ci(ds, "ds_asr", "n_images", 12)
    assert ds["ds_n"].iloc[0] == 12
    again = lic_table(pd.concat([photo, photo, digits], ignore_index=True), "table3", {"seed": 0})
    np.testing.assert_array_equal(again[["psnr_vs_clean_db_lo", "psnr_vs_clean_db_hi", "n_images"]],
                                  t[["psnr_vs_clean_db_lo", "psnr_vs_clean_db_hi", "n_images"]])
    assert "[" in lic_markdown(t)
    t5 = lic_table(photo.assign(defense="none", value=""), "table5", {"seed": 0})
    _check_ci(t5, "bpp_actual", "n_images", 10)
