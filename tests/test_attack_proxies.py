"""benchmark/attack_proxies.py: the gradient-proxy comparison of issue 16 (SRDA per proxy, real coding)."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT))
bench = importlib.import_module("benchmark.attack_proxies")


def _rows():
    """Two images x two directions x two proxies; noise does more rate damage at sra on both images,
    and on image b at sda less distortion damage."""
    out = []
    for proxy, d, img, dr, dd in [
        ("ste", "sra", "a", 0.10, 1.0), ("noise", "sra", "a", 0.14, 0.0),
        ("ste", "sra", "b", 0.20, 1.0), ("noise", "sra", "b", 0.26, 2.0),
        ("ste", "sda", "a", 0.00, 50.0), ("noise", "sda", "a", 0.01, 60.0),
        ("ste", "sda", "b", 0.00, 70.0), ("noise", "sda", "b", 0.02, 40.0),
    ]:
        g = (1.0, 0.0) if d == "sra" else (0.0, 1.0)
        out.append({"model": "m", "quality": 4, "direction": d, "image": img, "proxy": proxy,
                    "attacked_quality": "4", "gamma_r": g[0], "gamma_d": g[1], "dR_actual_bpp": dr,
                    "dD_mse255": dd, "attack_cpu_s": {"ste": 3.0, "noise": 2.0}[proxy]})
    return pd.DataFrame(out)


def test_best_keeps_per_sample_the_proxy_with_the_larger_objective_on_real_coding():
    best = bench.with_best(_rows(), ["ste", "noise"])
    best = best[best["proxy"] == "best"].set_index(["direction", "image"])
    # sra: the objective is dR (noise wins both); sda: dD (noise on a, ste on b)
    assert best["dR_actual_bpp"].to_dict() == {("sra", "a"): 0.14, ("sra", "b"): 0.26,
                                                ("sda", "a"): 0.01, ("sda", "b"): 0.00}
    assert best.loc[("sda", "b"), "dD_mse255"] == 70.0
    # a sample one proxy lacks has no best row
    partial = bench.with_best(_rows().iloc[1:], ["ste", "noise"])
    assert len(partial[partial["proxy"] == "best"]) == 3


def test_comparison_gives_paired_differences_from_the_baseline_with_intervals():
    c = bench.comparison(_rows(), "ste", seed=0).set_index(["direction", "proxy"])
    noise = c.loc[("sra", "noise")]
    assert noise["n"] == 2 and noise["dR"] == pytest.approx(0.20)
    assert noise["dR_diff"] == pytest.approx(0.05)  # (0.04 + 0.06) / 2, paired by image
    assert noise["dR_lo"] == pytest.approx(0.04) and noise["dR_hi"] == pytest.approx(0.06)
    assert c.loc[("sda", "noise"), "dL_diff"] == pytest.approx(-10.0)  # (+10 - 30) / 2
    assert (c.loc[(slice(None), "ste"), ["dR_diff", "dD_diff", "dL_diff"]] == 0).all().all()
    assert c.loc[("sda", "best"), "dL_diff"] == pytest.approx(5.0)  # keeps 60 on a and 70 on b
    v = bench.verdicts(c.reset_index(), "dL", "ste").set_index("proxy")
    assert v.loc["noise"].to_dict() == {"stronger": 1, "weaker": 0, "tied": 1}


def test_cpu_seconds_count_each_attacked_submodel_once_and_best_runs_all_proxies():
    t = bench.cpu_seconds(_rows()).set_index("model")
    assert t.loc["m", "ste"] == 3.0 and t.loc["m", "noise"] == 2.0 and t.loc["m", "best"] == 5.0


def test_checkpoint_path_is_the_workflows(tmp_path):
    assert bench.checkpoint_path(tmp_path, "mbt2018", 4) == tmp_path / "codecs" / "mbt2018" / "q4.pt"
    assert bench.checkpoint_path(tmp_path, "cai2022", 55) == tmp_path / "codecs" / "cai2022" / "qvr.pt"


def test_the_benchmark_attacks_with_each_proxy_and_prints_the_comparison(tmp_path, photos, capsys):
    from advcompress.codecs import make_codec
    from advcompress.codecs.learned import save_checkpoint
    from advcompress.data import save_png

    torch.manual_seed(0)
    codec = make_codec("bmshj2018-factorized", 6, weights="untrained", widths={"N": 32, "M": 48})
    save_checkpoint(codec, tmp_path / "ckpt" / "codecs" / "bmshj2018-factorized" / "q6.pt", {})
    for i, x in enumerate(photos):
        save_png(x, tmp_path / "eval" / f"img{i}.png")
    out = tmp_path / "rows.csv"
    bench.main(["--configfile", str(ROOT / "config" / "smoke.yaml"), "--checkpoints", str(tmp_path / "ckpt"),
                "--eval-dir", str(tmp_path / "eval"), "--models", "bmshj2018-factorized", "--proxies", "ste",
                "noise", "--steps", "1", "--images", "1", "--out", str(out)])
    rows = pd.read_csv(out)
    assert rows.groupby("proxy").size().to_dict() == {"noise": 6, "ste": 6}  # 1 image x 6 directions, q6 (middle)
    assert set(rows["quality"]) == {6} and np.isfinite(rows["dR_actual_bpp"]).all()
    assert (rows["attack_cpu_s"] > 0).all()
    printed = capsys.readouterr().out
    assert "dR noise-ste" in printed and "CPU seconds" in printed
