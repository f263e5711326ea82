"""Every codec of the victim zoo (#8) goes through the same rules as CompressAI's: `train_lic`
trains it at reduced width and `compress_clean` codes real bytes into the RD table. The jobs run
in the test's process, with the command lines Snakemake plans for them (conftest.run_planned_jobs)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml

from advcompress.attack.algorithms import attack_grid
from advcompress.attack.assess import assess_image
from advcompress.codecs import make_codec_from_settings
from advcompress.codecs.learned import architecture
from advcompress.metrics import perturbation_norm
from tests.conftest import ROOT, copy_workflow, run_planned_jobs

# Tiny widths (as the architecture tests use) so that two steps of each train in seconds.
ZOO = {
    "stf": {
        "qualities": [3],
        "widths": {"embed_dim": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 4, 8], "window_size": 4,
                   "num_slices": 4, "max_support_slices": 2, "cc_hidden": [64, 32], "drop_path_rate": 0.0},
    },
    "tcm": {
        "qualities": [3],
        "widths": {"N": 32, "M": 96, "config": [2, 2, 2, 2, 2, 2], "head_dim": [16] * 6, "window_size": 4,
                   "Z": 64, "hyper_head_dim": 16, "hyper_window": 2, "num_slices": 4, "max_support_slices": 2,
                   "atten_inter": 32, "atten_head_dim": 16, "cc_hidden": [64, 32]},
    },
    "song2021": {"qualities": [25, 90], "widths": {"N": 32, "M": 32, "prior_nc": 8, "sft_hidden": 16}},
    "cai2022": {
        "qualities": [25, 90],
        "widths": {"N": 32, "M": 32, "enh_nf": 8, "enh_gc": 8, "couplings": 1, "inn_hidden": 16,
                   "iat_hidden": 16},
    },
    "elic": {"qualities": [3], "widths": {"N": 32, "M": 64, "cc_hidden": [32, 32], "ep_hidden": 64,
                                          "res_blocks": 1}},
    "hific": {"qualities": [2], "widths": {"M": 32, "N": 32, "filters": [8, 16, 24, 32, 48], "res_blocks": 2}},
}


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    """The zoo codecs trained (two steps each) and coded by the workflow's own rules."""
    work = copy_workflow(tmp_path_factory.mktemp("zoo"))
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    for name, spec in ZOO.items():
        config["codecs"]["learned"][name] = {"weights": "trained", "steps": 2, **spec}
    # HiFiC pads to multiples of 128 px, so its patches must be too; the smoke photos allow it.
    config["train"].update(warm_start=False, batch_size=2, patch=128)
    (work / "config" / "zoo.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/smoke/clean/{name}/q{q}.csv" for name, q in POINTS]
    commands = run_planned_jobs(work, "--configfile", "config/zoo.yaml", "--", *targets)
    planned = [c.split()[1] for c in commands]
    assert planned.count("train-lic") == len(ZOO) and planned.count("compress") == len(POINTS), planned
    return work


POINTS = [(name, q) for name, spec in ZOO.items() for q in spec["qualities"]]


def test_every_zoo_codec_trains_and_codes_through_the_rules(zoo_run):
    for name, q in POINTS:
        rows = pd.read_csv(zoo_run / f"results/smoke/clean/{name}/q{q}.csv")
        assert len(rows) == 2, (name, q)  # both smoke evaluation photos, really coded
        assert (rows["bpp_actual"] > 0).all() and rows["psnr_db"].notna().all(), (name, q)
        assert rows["bpp_est"].notna().all(), (name, q)


@pytest.mark.parametrize("name", list(ZOO))
def test_rd_attack_and_assessment_cover_every_zoo_codec(zoo_run, photos, name):
    """No special case: the attack registry and the local maps work on each trained zoo codec."""
    q = ZOO[name]["qualities"][-1]
    ckpt = zoo_run / "results/smoke/checkpoints/codecs" / name / f"q{'vr' if architecture(name).variable_rate else q}.pt"
    codec = make_codec_from_settings(name, q, {"weights": "trained", "widths": ZOO[name]["widths"],
                                               "device": "cpu"}, str(ckpt))
    x = photos[0]
    res = attack_grid("srda", codec, x, {"rd2e-2": (1.0, 0.02)}, {"steps": 2, "max_warmup_steps": 4})
    x_adv = res["x_adv"]["rd2e-2"]
    assert (perturbation_norm(x_adv - x) <= 1e-3 + 1e-9).all() and torch.isfinite(x_adv).all()
    row, maps = assess_image(codec, x_adv, x)
    assert row["bpp_actual"] > 0 and row["mse255"] > 0
    assert maps["rate"].sum().item() / x.shape[-1] / x.shape[-2] == pytest.approx(row["bpp_est"], rel=1e-4)
