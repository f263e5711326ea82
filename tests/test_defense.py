"""Defenses of learned codecs: derived codec names, online updating, adversarial training, outputs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from advcompress.codecs import make_codec
from advcompress.codecs.learned import LearnedCodec, save_checkpoint
from advcompress.codecs.wrappers import OnlineCodec, OnlineSettings, online_update, rd_objective
from advcompress.config import load_tier
from advcompress.defense.adversarial_training import adversarial_train, sample_gammas
from advcompress.defense.figures import FIGURES as DEFENSE_FIGURES
from advcompress.foundation.train import PatchSampler

ROOT = Path(__file__).resolve().parents[1]
SMOKE = load_tier(ROOT / "config/smoke.yaml", root=ROOT)
MODEL = SMOKE["defense"]["models"][0]
WIDTHS = SMOKE["codecs"]["learned"][MODEL].get("widths")
QUALITY = SMOKE["codecs"]["learned"][MODEL]["qualities"][-1]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread, as the workflow's jobs run: on 2 shared cores more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def smoke_codec(smoke_run, name=MODEL, quality=QUALITY, **extra):
    ckpt = smoke_run / f"results/smoke/checkpoints/codecs/{MODEL}/q{quality}.pt"
    return make_codec(name, quality, weights="trained", checkpoint=str(ckpt), widths=WIDTHS, **extra)


# -- derived codec names --------------------------------------------------------------------------


def test_derived_names_resolve_to_base_architecture_and_wrapper():
    at = make_codec(f"{MODEL}@at-srda", 2, weights="untrained", widths=WIDTHS)
    assert isinstance(at, LearnedCodec) and at.name == f"{MODEL}@at-srda"
    online = make_codec(f"{MODEL}@at-srda+online", 2, weights="untrained", widths=WIDTHS, online={"steps": 2})
    assert isinstance(online, OnlineCodec) and online.name == f"{MODEL}@at-srda+online"
    assert online.settings.steps == 2 and online.base.name == f"{MODEL}@at-srda"
    with pytest.raises(KeyError):
        make_codec("jpeg@at-srda", 50)
    with pytest.raises(KeyError):
        make_codec("no-such-codec+online", 2)
    with pytest.raises(ValueError, match="unknown settings"):
        make_codec(f"{MODEL}+online", 2, weights="untrained", widths=WIDTHS, online={"stepz": 2})


def test_sample_gammas_fixed_and_random():
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_gammas({"fixed": [0.0, 1.0]}, 3, g), torch.tensor([[0.0, 1.0]] * 3))
    gam = sample_gammas({"log10_gamma_d": [-4.0, 0.0], "endpoint_prob": 0.2}, 2000, g)
    rate_only = (gam[:, 0] == 1) & (gam[:, 1] == 0)
    dist_only = (gam[:, 0] == 0) & (gam[:, 1] == 1)
    mixed = ~(rate_only | dist_only)
    assert 0.15 < rate_only.float().mean() < 0.25 and 0.15 < dist_only.float().mean() < 0.25
    assert (gam[mixed, 0] == 1).all() and (gam[mixed, 1] >= 1e-4).all() and (gam[mixed, 1] <= 1).all()


# -- online updating ------------------------------------------------------------------------------


def test_online_never_increases_the_rd_loss_it_codes(smoke_run, photos):
    codec = smoke_codec(smoke_run)
    x = torch.cat(photos)
    lmbda = 0.0130
    for settings in [OnlineSettings(steps=8, lr=1e-2), OnlineSettings(steps=3, lr=5.0)]:
        x_opt, info = online_update(codec, x, lmbda, settings)
        before = rd_objective(codec, x, x, lmbda)["loss"]
        after = rd_objective(codec, x_opt, x, lmbda)["loss"]
        assert (after <= before).all(), (settings, before, after)
        assert torch.allclose(info["loss_before"], before) and torch.allclose(info["loss_after"], after)
        assert x_opt.min() >= 0 and x_opt.max() <= 1
    # the paper's learning rate actually lowers the loss of a trained model
    x_opt, _ = online_update(codec, x, lmbda, OnlineSettings(steps=8, lr=1e-2))
    assert (rd_objective(codec, x_opt, x, lmbda)["loss"] < rd_objective(codec, x, x, lmbda)["loss"]).all()


def test_online_codec_codes_the_optimised_image_for_real(smoke_run, photos):
    base = smoke_codec(smoke_run)
    online = smoke_codec(smoke_run, f"{MODEL}+online", online={"steps": 6, "lr": 1e-2, "lmbda": 0.013})
    x = photos[0]
    x_hat, bs = online.roundtrip(x)
    x_opt = online.encoder_input(x)
    assert not torch.equal(x_opt, x)
    assert bs.strings == base.compress(x_opt).strings  # the optimised image, coded by the base codec
    assert torch.equal(x_hat, base.decompress(bs))
    # the RD loss of what it codes (estimated rate from its forward, D against the received image)
    # is no higher than coding the received image directly
    lmbda = online.lmbda
    est = rd_objective(online, x, x, lmbda)["loss"]
    assert est <= rd_objective(base, x, x, lmbda)["loss"] + 1e-6
    # an oblivious attacker's gradient path is the plain codec's
    xg = x.clone().requires_grad_(True)
    a = online.forward(xg, proxy="ste")["x_hat"].sum()
    (ga,) = torch.autograd.grad(a, xg)
    xg2 = x.clone().requires_grad_(True)
    (gb,) = torch.autograd.grad(base.forward(xg2, proxy="ste")["x_hat"].sum(), xg2)
    assert torch.allclose(ga, gb)


# -- adversarial training -------------------------------------------------------------------------


AT_TINY = {"steps": 2, "batch_size": 2, "lr": 1e-3, "lr_final": 1e-4,
           "attack": {"steps": 1, "max_warmup_steps": 2}}


def test_at_checkpoint_reloads_weights_only_and_codes_bit_identically(tmp_path, photos):
    g = torch.Generator().manual_seed(0)
    codec = make_codec(MODEL, 2, weights="untrained", widths=WIDTHS)
    summary = adversarial_train(codec, PatchSampler(photos, 64, g), [2], AT_TINY, g)
    assert summary["steps"] == 2 and summary["adv_per_batch"] == 1
    path = tmp_path / "q2.pt"
    save_checkpoint(codec, path, {"steps": 2})
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"state_dict", "meta"}
    loaded = make_codec(f"{MODEL}@at-srda", 2, weights="trained", checkpoint=str(path), widths=WIDTHS)
    for x in photos:
        a, b = codec.compress(x), loaded.compress(x)
        assert a.strings == b.strings and a.shape == b.shape
        assert torch.equal(codec.decompress(a), loaded.decompress(b))


def _held_out_crops() -> torch.Tensor:
    """16 disjoint 64x64 crops (2 x 2 from the centre 128x128 of four bundled photographs), none of
    them among the smoke tier's training photographs."""
    import numpy as np
    from PIL import Image

    from advcompress.data import bundled_photo_path, resize_and_crop

    names = ["astronaut", "coffee", "chelsea", "rocket"]
    assert not set(names) & set(SMOKE["data"]["train"]["images"])
    crops = []
    for name in names:
        with Image.open(bundled_photo_path(name)) as img:
            a = np.asarray(resize_and_crop(img.convert("RGB"), 128, 128), dtype=np.float32) / 255
        t = torch.from_numpy(a).permute(2, 0, 1)[None]
        crops += [t[..., i : i + 64, j : j + 64] for i in (0, 64) for j in (0, 64)]
    return torch.cat(crops)


def _srda_damage(codec, x, attack) -> dict:
    """Mean Delta R (actual bpp) under SRA and mean Delta D (MSE 0-255) under SDA, from real bitstreams."""
    from advcompress.attack.algorithms import attack_grid
    from advcompress.evaluate import code_image

    res = attack_grid("srda", codec, x, {"sra": (1.0, 0.0), "sda": (0.0, 1.0)}, attack)
    clean = [code_image(codec, x[i : i + 1])[0] for i in range(len(x))]
    out = {}
    for direction, key in [("sra", "bpp_actual"), ("sda", "mse255")]:
        adv = [code_image(codec, res["x_adv"][direction][i : i + 1])[0] for i in range(len(x))]
        d = [a[key] - c[key] for a, c in zip(adv, clean, strict=True)]
        assert all(math.isfinite(v) for v in d)
        out[direction] = sum(d) / len(d)
    return out


def test_at_lowers_the_srda_distortion_damage_on_held_out_images(smoke_run):
    """The paper's AT claim (Sec. VII.E, Fig. 13, Table III), its distortion half: fine-tuning on
    SRDA samples of random direction lowers what a distortion attack adds to D.

    The smoke model is fine-tuned on the smoke training photographs and attacked on 16 crops of
    other photographs, at the paper's learning rate (1e-4, 1e-5 for the last 10 % of the steps) for
    40 steps instead of 1000; AT's batches must carry SRDA samples that the codec codes worse than
    their clean half (the mechanism). Measured 2026-12-02 (mean ΔD under SDA): before 457, AT 424,
    fine-tuning without adversarial samples 454; on 2026-12-03, on an AVX2-only machine, AT 409 and
    the same fine-tuning without adversarial samples 404, so at this scale the control does not
    separate them and is not asserted here: the default run's claims table checks AT against
    plain fine-tuning and online updating (`def-at-*` rows, docs/claims.md). AT's batches there:
    SRDA half 1103, clean half 701 (0-255 MSE). The rate half does not show at this scale either.
    """
    from advcompress.data import load_image_folder

    x = _held_out_crops()
    _, train = load_image_folder(smoke_run / "data/smoke/train")
    attack = {"steps": 4, "max_warmup_steps": 8}  # paper T = 64; the same attack inside AT and after it
    settings = {"steps": 40, "batch_size": 4, "lr": 1e-4, "lr_final": 1e-5, "attack": attack,
                "samples": {"log10_gamma_d": [-4.0, 0.0], "endpoint_prob": 0.2}, "adv_fraction": 0.5}
    before = _srda_damage(smoke_codec(smoke_run), x, attack)
    codec = smoke_codec(smoke_run)
    g = torch.Generator().manual_seed(0)
    history = adversarial_train(codec, PatchSampler(train, 64, g), [QUALITY], settings, g)["history"]
    at = _srda_damage(codec, x, attack)
    # the attacks do damage to begin with (SRA added 0.0195 bpp on 2026-12-04, after MatmulGDN)
    assert before["sra"] > 0.01 and before["sda"] > 100, before
    assert at["sda"] < 0.95 * before["sda"], (before, at)
    adv, clean = (sum(r[f"mse255_{part}"] for r in history) / len(history) for part in ("adv", "clean"))
    assert adv > 1.3 * clean, (adv, clean)  # AT trained on attacked patches


# -- aggregation ------------------------------------------------------------------------------------


def _rows(model, d_r, d_d, n=2):
    return pd.DataFrame([{"model": model, "attack": "srda", "direction": "sra", "quality": 2, "image": f"i{i}",
                          "transfer": False, "bpp_actual": 1.0, "mse255": 10.0, "bpp_actual_clean": 1.0,
                          "mse255_clean": 10.0, "dR_actual_bpp": d_r[i], "dR_est_bpp": d_r[i],
                          "dD_mse255": d_d[i], "error": ""} for i in range(n)])


def test_table3_means_valid_rows_and_counts_invalid():
    from advcompress.defense.tables import robustness, table3

    rows = pd.concat([_rows("m", [0.4, 0.2], [100.0, 50.0]), _rows("m@at-srda", [0.1, 0.3], [20.0, 40.0]),
                      _rows("m@at-sra", [0.1, 0.1], [80.0, 90.0])], ignore_index=True)
    rows.loc[rows.index[-1], "mse255"] = float("nan")  # one invalid row of m@at-sra
    labels = {"m": {"model": "m", "defense": "none"}, "m@at-srda": {"model": "m", "defense": "AT"},
              "m@at-sra": {"model": "m", "defense": "AT-sra"}}
    t = table3(robustness(rows, labels), {"AT-sra": "sra", "AT": "srda"}).set_index("model")
    assert t.loc["m", "none_mu_dR_actual_bpp"] == pytest.approx(0.3)
    assert t.loc["m", "at_srda_mu_dD_mse255"] == pytest.approx(30.0)
    assert t.loc["m", "at_sra_mu_dD_mse255"] == pytest.approx(80.0)  # the NaN row is left out ...
    assert t.loc["m", "at_sra_n_invalid"] == 1  # ... and counted
    assert t.loc["m", "at_sra_n_images"] == 1 and t.loc["m", "none_n_images"] == 2  # ... and out of n
    assert t.loc["m", "none_mu_dR_actual_bpp_lo"] <= 0.3 <= t.loc["m", "none_mu_dR_actual_bpp_hi"]
    with pytest.raises(ValueError, match="without a defense label"):
        robustness(rows, {"m": labels["m"]})


def test_schema_rejects_a_typo_naming_the_key():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(ROOT / "workflow/schemas/defense.schema.yaml")
    section = load_tier(root=ROOT)["defense"]
    validate(dict(section), schema)
    bad = {**section, "online": {**section["online"], "stepz": 3}}
    with pytest.raises(WorkflowError, match="stepz"):
        validate(bad, schema)
    for tier in ["smoke.yaml", "paper.yaml"]:
        validate(load_tier(ROOT / "config" / tier, root=ROOT)["defense"], schema)


# -- the smoke workflow's outputs -------------------------------------------------------------------


def test_smoke_run_builds_every_defense_target(smoke_run):
    out = smoke_run / "results/smoke"
    figures = [f"figures/defense/{stem}.pdf" for stem in DEFENSE_FIGURES.plan(SMOKE["defense"]["attacks"])]
    for f in ["tables/defense/table3.md", *figures]:
        assert (out / f).stat().st_size > 0, f
    t3 = pd.read_csv(out / "tables/defense/table3.csv").set_index("model")
    for kind in ["none", *(f"at_{k}" for k in SMOKE["defense"]["at"]["samples"])]:
        assert t3[f"{kind}_n_rows"].loc[MODEL] > 0
    summary = pd.read_csv(out / "tables/defense/robustness_srda.csv")
    assert set(summary["defense"]) >= {"none", "AT", "online", "AT + online"}
    online_rows = pd.read_csv(out / f"attack/srda/{MODEL}+online/rows.csv")
    assert set(online_rows["model"]) == {f"{MODEL}+online"}
    meta = yaml.safe_load((out / f"checkpoints/codecs/{MODEL}@at-srda/q{QUALITY}.json").read_text())
    assert meta["steps"] == SMOKE["defense"]["at"]["steps"] and meta["codec"] == f"{MODEL}@at-srda"
