"""ARDA's temperature ablation (issue 16): which runs it makes, what it records, its summary, its
config checks. The figure itself is drawn by tests/test_figures.py with every registered figure."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from advcompress import plan
from advcompress.attack.run import tau_ablation_job, tau_values, weight_spread
from advcompress.attack.tables import tau_summary
from advcompress.codecs import make_codec
from tests.conftest import ROOT, resolved

SCHEMA = str(ROOT / "workflow" / "schemas" / "attack.schema.yaml")
DIRS = {"sra": (1.0, 0.0), "rd2e-2": (1.0, 0.02), "sda": (0.0, 1.0)}


def test_tau_values_read_gamma_d_per_direction_and_skip_gamma_d_zero():
    runs = tau_values([0.1, 1, "gamma_d"], DIRS)
    assert [(rule, tau, list(d)) for rule, tau, d in runs] == [
        ("tau=0.1", 0.1, ["sra", "rd2e-2", "sda"]),
        ("tau=1", 1.0, ["sra", "rd2e-2", "sda"]),
        ("tau=gamma_d", 0.02, ["rd2e-2"]),  # one run per direction, at its own gamma_d
        ("tau=gamma_d", 1.0, ["sda"]),  # sra has gamma_d = 0: no temperature, no run
    ]
    with pytest.raises(ValueError, match="'gamma' is neither a number nor 'gamma_d'"):
        tau_values(["gamma"], DIRS)


def test_weight_spread_reads_the_active_steps_only():
    """After its T steps a sample stops (inactive) while others go on; its frozen weights must not count."""
    steps = pd.DataFrame([
        {"direction": "sda", "image": 0, "step": 0, "active": True, "weights": [0.5, 0.5]},
        {"direction": "sda", "image": 0, "step": 1, "active": True, "weights": [0.7, 0.3]},
        {"direction": "sda", "image": 0, "step": 2, "active": False, "weights": [0.1, 0.9]},
        {"direction": "sda", "image": 1, "step": 0, "active": True, "weights": [0.2, 0.8]},
    ])
    got = weight_spread(steps).set_index("image")
    assert got.loc[0, "w_max_mean"] == pytest.approx(0.6) and got.loc[0, "w_max_final"] == pytest.approx(0.7)
    assert got.loc[1, "w_max_mean"] == pytest.approx(0.8) and set(got["n_submodels"]) == {2}


def test_the_ablation_runs_arda_at_each_temperature_and_a_lower_tau_moves_the_weights_further(photos):
    torch.manual_seed(0)
    codecs = {q: make_codec("bmshj2018-hyperprior", q, weights="untrained", widths={"N": 16, "M": 24})
              for q in (1, 2)}
    settings = {"steps": 3, "max_warmup_steps": 4, "taus": [0.1, 1.0, "gamma_d"],
                "thresholds": {"rate_bits": [0], "distortion_mse255": [0]}}
    dirs = {k: DIRS[k] for k in ("rd2e-2", "sda")}
    rows = tau_ablation_job("m", codecs, ["a", "b"], torch.cat(photos), dirs, settings)
    assert rows.groupby("tau_rule").size().to_dict() == {"tau=0.1": 8, "tau=1": 8, "tau=gamma_d": 8}
    gd = rows[rows["tau_rule"] == "tau=gamma_d"].groupby("direction")["tau"].first().to_dict()
    assert gd == {"rd2e-2": 0.02, "sda": 1.0}
    assert rows["bpp_actual"].notna().all() and (rows["attack"] == "arda").all()  # re-measured by real coding
    w = rows.drop_duplicates(["tau_rule", "direction", "image"]).set_index(["tau_rule", "direction", "image"])
    assert ((w["w_max_mean"] >= 0.5) & (w["w_max_mean"] <= 1)).all() and set(w["n_submodels"]) == {2}
    # Eq. 5 at a lower temperature sharpens the softmax: the same ratios give a larger top weight.
    for d in dirs:
        for img in ("a", "b"):
            assert w.loc[("tau=0.1", d, img), "w_max_mean"] > w.loc[("tau=1", d, img), "w_max_mean"] > 0.5, (d, img)
    assert w.loc[("tau=gamma_d", "rd2e-2", "a"), "w_max_mean"] > w.loc[("tau=0.1", "rd2e-2", "a"), "w_max_mean"]


def _rows():
    """Ablation rows of one model, 2 submodels, 3 images: dR = 0.1 * quality * (1 + image index)."""
    out = []
    for rule, tau, d in [("tau=1", 1.0, "sda"), ("tau=gamma_d", 1.0, "sda"),
                         ("tau=1", 1.0, "rd2e-2"), ("tau=gamma_d", 0.02, "rd2e-2")]:
        for i, img in enumerate(["a", "b", "c"]):
            for q in (1, 2):
                dr = 0.1 * q * (1 + i) * (2 if rule == "tau=gamma_d" else 1)
                out.append({"model": "m", "attack": "arda", "direction": d, "image": img, "quality": q,
                            "transfer": False, "tau": tau, "tau_rule": rule, "n_submodels": 2,
                            "w_max_mean": 0.5 + 0.1 * i, "w_max_final": 0.6 + 0.1 * i,
                            "bpp_actual": 1.0 + dr, "bpp_actual_clean": 1.0, "mse255": 50.0, "mse255_clean": 40.0,
                            "bpp_est": 1.0, "dR_actual_bpp": dr, "dR_est_bpp": 0.0, "dD_mse255": 10.0})
    return pd.DataFrame(out)


def test_tau_summary_gives_mu_over_submodels_and_weights_per_rule_with_intervals():
    s = tau_summary(_rows()).set_index(["tau_rule", "direction"])
    assert len(s) == 4
    # mu(dR) = mean over submodels of the mean over images: 0.1 * 1.5 * 2 = 0.3 (tau=1), doubled for gamma_d
    assert s.loc[("tau=1", "sda"), "mu_dR_actual_bpp"] == pytest.approx(0.3)
    assert s.loc[("tau=gamma_d", "rd2e-2"), "mu_dR_actual_bpp"] == pytest.approx(0.6)
    lo, hi = s.loc[("tau=1", "sda"), ["mu_dR_actual_bpp_lo", "mu_dR_actual_bpp_hi"]]
    assert lo < 0.3 < hi  # images differ, so the interval has width
    assert s.loc[("tau=1", "sda"), "w_max_mean"] == pytest.approx(0.6)  # images 0.5, 0.6, 0.7
    assert s.loc[("tau=1", "sda"), "w_max_mean_lo"] < 0.6 < s.loc[("tau=1", "sda"), "w_max_mean_hi"]
    assert s.loc[("tau=gamma_d", "rd2e-2"), "tau"] == 0.02 and (s["uniform"] == 0.5).all()
    assert (s["n_images"] == 3).all()


# -- config -----------------------------------------------------------------------------------------


def _attack_section(**tau):
    s = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["attack"]
    return {**s, "tau_ablation": {**s["tau_ablation"], **tau}}


@pytest.mark.parametrize("change, where", [
    ({"taus": [0.1, "gamma"]}, r"\['tau_ablation'\]\['taus'\]\[1\]"),
    ({"taus": [0.0]}, r"\['tau_ablation'\]\['taus'\]\[0\]"),
    ({"taus": []}, r"\['tau_ablation'\]\['taus'\]"),
    ({"modle": "mbt2018"}, "'modle' was unexpected"),
])
def test_bad_tau_ablation_settings_fail_schema_validation_naming_the_key(change, where):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    validate(_attack_section(), SCHEMA)
    validate({**_attack_section(), "tau_ablation": None}, SCHEMA)  # null: no ablation
    with pytest.raises(WorkflowError, match=where):
        validate(_attack_section(**change), SCHEMA)


@pytest.mark.parametrize("model, message", [
    ("jpeg", "attack.tau_ablation.model is 'jpeg', which is not in codecs.learned"),
    ("one-quality", "attack.tau_ablation.model 'one-quality' has one quality"),
])
def test_workflow_refuses_a_tau_ablation_model_it_cannot_attack_naming_the_key(tmp_path, model, message):
    """At parse time, as every planning refusal (tests/test_errors.py: Snakemake prints it)."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if model == "one-quality":
        model = "mbt2018"
        cfg["codecs"]["learned"]["mbt2018"]["qualities"] = [4]
        message = message.replace("one-quality", "mbt2018")
    cfg["attack"]["tau_ablation"]["model"] = model
    with pytest.raises(ValueError, match=re.escape(message)):
        plan.targets(resolved(cfg, tmp_path))


def test_without_the_ablation_there_is_no_tau_job_nor_figure(tmp_path):
    """Read from the plan, which tests/test_rules.py holds equal to Snakemake's DAG."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    with_tau = resolved(cfg, tmp_path)
    cfg["attack"]["tau_ablation"] = None
    without = resolved(cfg, tmp_path)
    assert without["attack"]["tau_ablation"] is None
    for c, has_tau in ((with_tau, True), (without, False)):
        rules = {rule for rule, _ in plan.jobs(c)}
        assert "attack_figure" in rules and ("attack_tau" in rules) == has_tau
        assert any("tau" in Path(t).name for t in plan.targets(c)["attack"]) == has_tau
