"""RD attacks (SRDA/ARDA) and their assessment, on the smoke workflow's trained codecs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from advcompress.attack.algorithms import (
    ATTACKS,
    PAPER_DIRECTIONS,
    arda_weights,
    attack_grid,
    get_attack,
    project_to_ball,
    to_8bit_within_budget,
)
from advcompress.attack.assess import (
    assess_image,
    distortion_map,
    latent_features,
    rate_map,
    success_ratio,
)
from advcompress.attack.figures import FIGURES as ATTACK_FIGURES
from advcompress.attack.tables import table2
from advcompress.codecs import make_codec, make_codec_from_settings
from advcompress.codecs.learned import ARCHITECTURES
from advcompress.config import load_tier
from advcompress.metrics import perturbation_norm
from tests.conftest import ROOT, read_markdown

SMOKE = load_tier(ROOT / "config" / "smoke.yaml", root=ROOT)
LEARNED = SMOKE["codecs"]["learned"]
FAST = {"steps": 4, "max_warmup_steps": 8, "chunk": 64}


def smoke_codec(work, model, quality):
    spec = LEARNED[model]
    q = "vr" if ARCHITECTURES[model].variable_rate else quality
    ckpt = work / SMOKE["results"] / "checkpoints" / "codecs" / model / f"q{q}.pt"
    return make_codec_from_settings(model, quality, {"weights": "trained", "widths": spec.get("widths"),
                                                     "device": "cpu"}, str(ckpt))


@pytest.fixture(scope="module")
def images(photos):
    return torch.cat(photos)


# -- the optimiser and the budget --------------------------------------------------------------


def test_radial_projection_lands_on_the_sphere():
    d = torch.randn(3, 3, 8, 8) * torch.tensor([0.001, 0.1, 1.0]).view(3, 1, 1, 1)
    p, before = project_to_ball(d, 1e-3)
    after = perturbation_norm(p)
    assert before[0] < 1e-3 and torch.equal(p[0], d[0])  # inside: untouched
    assert torch.allclose(after[1:], torch.full((2,), 1e-3), rtol=1e-5)


def test_8bit_output_respects_budget_exactly():
    torch.manual_seed(0)
    x = (torch.rand(4, 3, 16, 16) * 255).round() / 255
    delta = torch.sign(torch.randn_like(x)) * math.sqrt(1e-3) * 1.3  # rounding would exceed eps
    x_adv = to_8bit_within_budget(x, delta, 1e-3)
    assert (perturbation_norm(x_adv - x) <= 1e-3 + 1e-9).all()
    assert torch.equal(x_adv, (x_adv * 255).round() / 255) and x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize("model", list(LEARNED))
def test_srda_budget_and_direction_effects(smoke_run, images, model):
    """Final perturbation within eps after 8-bit quantisation; the distortion direction raises D
    (decoded bitstream) and the rate direction raises the rate on every smoke image."""
    q = LEARNED[model]["qualities"][-1]
    codec = smoke_codec(smoke_run, model, q)
    res = attack_grid("srda", codec, images, {"sra": (1, 0), "sda": (0, 1)}, {"steps": 8, "chunk": 64})
    for d, xa in res["x_adv"].items():
        assert (perturbation_norm(xa - images) <= 1e-3 + 1e-9).all(), d
        assert (perturbation_norm(xa - images) > 0.5e-3).all(), d  # it did reach the sphere
        assert res["reached"][d].all()
    for i in range(len(images)):
        clean, _ = assess_image(codec, images[i : i + 1])
        rate, _ = assess_image(codec, res["x_adv"]["sra"][i : i + 1])
        dist, _ = assess_image(codec, res["x_adv"]["sda"][i : i + 1])
        assert dist["mse255"] > clean["mse255"] + 10, (model, i)
        assert rate["bpp_est"] > clean["bpp_est"], (model, i)
        if "z_hat" in latent_features(codec, images[i : i + 1]):
            # with a hyperprior the attack moves whole bytes; a factorized prior at 64x64 gains
            # less than one byte (8 / 4096 bpp), as the paper's Balle2016 is the most rate-robust
            assert rate["bpp_actual"] > clean["bpp_actual"], (model, i)


def test_batched_and_looped_attacks_agree(smoke_run, images):
    model = next(iter(LEARNED))
    codec = smoke_codec(smoke_run, model, LEARNED[model]["qualities"][0])
    dirs = dict(list(PAPER_DIRECTIONS.items())[::2])
    # ste on the smoke codec; the noise-based proxies are checked in test_attack_noise.py
    batched = attack_grid("srda", codec, images[:1], dirs, {**FAST, "chunk": 64, "proxy": "ste"})
    looped = attack_grid("srda", codec, images[:1], dirs, {**FAST, "chunk": 1, "proxy": "ste"})
    for d in dirs:
        assert len(batched["x_adv"][d]) == 1
        diff = (batched["x_adv"][d] - looped["x_adv"][d]).abs()
        assert diff.max() <= 2 / 255 + 1e-6, d  # at most a rounding flip of 8-bit levels
        assert (diff > 1e-6).float().mean() < 0.01, d


def _check_arda_log(log: list[dict], tau: float) -> np.ndarray:
    """Every logged step of every sample: weights sum to one, are Eq. 5 of the logged losses
    (recomputed, not static), and are the weights of the loss that was optimised. Returns the
    weights as samples x steps x K."""
    rows = sorted(log, key=lambda r: (r["sample"], r["step"]))
    samples = sorted({r["sample"] for r in rows})
    w = np.array([[r["weights"] for r in rows if r["sample"] == i] for i in samples])
    losses = np.array([[r["losses"] for r in rows if r["sample"] == i] for i in samples])
    assert np.isfinite(w).all() and np.allclose(w.sum(-1), 1, atol=1e-5)
    assert np.allclose(w[:, 0], 1 / w.shape[-1], atol=1e-6)  # L_init / L_init = 1 for every submodel
    for i in range(len(samples)):
        want = arda_weights(torch.tensor(losses[i, :1]).expand(len(losses[i]), -1), torch.tensor(losses[i]), tau)
        assert np.allclose(w[i], want.numpy(), rtol=1e-5, atol=1e-7)
    loss = np.array([[r["loss"] for r in rows if r["sample"] == i] for i in samples])
    assert np.allclose(loss, (w * losses).sum(-1), rtol=1e-4)  # the optimised L_f = sum_k w_k L_s^(k)
    return w


def test_arda_weights_sum_to_one_and_stay_finite(images):
    torch.manual_seed(0)
    codecs = [make_codec("bmshj2018-hyperprior", q, weights="untrained", widths={"N": 16, "M": 24})
              for q in (1, 2, 3)]  # three differently initialised submodels
    res = attack_grid("arda", codecs, images[:1], {"rd2e-2": (1, 0.02), "sda": (0, 1)}, FAST)
    w = _check_arda_log(res["log"], tau=1.0)
    assert w.shape[-1] == len(codecs)
    assert (perturbation_norm(res["x_adv"]["sda"] - images[:1]) <= 1e-3 + 1e-9).all()


def test_an_attack_leaves_the_weights_as_it_found_them(images):
    """The attack turns the weights' gradients off while it runs (input gradient only) and back on
    after: adversarial training attacks the codec it then trains."""
    codec = make_codec("bmshj2018-hyperprior", 1, weights="untrained", widths={"N": 16, "M": 24})
    codec.net.g_a[0].weight.requires_grad_(False)  # a part the caller froze stays frozen
    before = {n: p.requires_grad for n, p in codec.named_parameters()}
    attack_grid("srda", codec, images[:1], {"sra": (1, 0)}, {**FAST, "steps": 1, "max_warmup_steps": 1})
    assert {n: p.requires_grad for n, p in codec.named_parameters()} == before
    assert all(p.grad is None for p in codec.parameters())


class _LinearRateCodec:
    """A submodel whose rate grows with the image's mean brightness at its own slope (bpp = 0.1 +
    slope * mean shift) and that reconstructs perfectly: slope 0 cannot be attacked at all."""

    def __init__(self, slope: float, x0: torch.Tensor):
        self.slope, self.m0 = slope, x0.mean((1, 2, 3))

    def forward(self, x, proxy="ste"):
        bpp = 0.1 + self.slope * (x.mean((1, 2, 3)) - self.m0)  # the attack only brightens x
        lik = torch.exp2(-bpp)[:, None].expand(-1, x.shape[-2] * x.shape[-1])
        return {"x_hat": x, "likelihoods": {"y": lik}}


def test_arda_weights_move_towards_the_submodels_not_yet_hurt(images):
    """Static (e.g. uniform) weights sum to one too; Eq. 5's weights must move during a run: the
    submodel the perturbation hurts most loses weight, the one it cannot hurt gains it."""
    x = images[:1]
    codecs = [_LinearRateCodec(s, x) for s in (0.0, 1.0, 10.0)]
    res = attack_grid("arda", codecs, x, {"sra": (1, 0)}, FAST)
    w = _check_arda_log(res["log"], tau=1.0)[0]
    assert w[-1, 0] > w[-1, 1] > w[-1, 2]
    assert w[-1, 0] - w[-1, 2] > 0.1, w[-1]  # far from uniform (1/3 each) by the end of the run


def test_arda_weights_favour_the_least_attacked_submodel():
    init = torch.tensor([[-1.0, -1.0, -1.0]])
    now = torch.tensor([[-1.0, -2.0, -4.0]])  # submodel 0 not hurt yet
    w = arda_weights(init, now, tau=1.0)
    assert torch.allclose(w.sum(1), torch.ones(1)) and w[0, 0] > w[0, 1] > w[0, 2]
    assert torch.allclose(arda_weights(init, init, 1.0), torch.full((1, 3), 1 / 3))


def test_registry_and_single_dimension_variants(smoke_run, images):
    assert {"srda", "arda", "sra", "sda"} <= set(ATTACKS)
    assert get_attack("sra").direction == (1.0, 0.0) and get_attack("sda").direction == (0.0, 1.0)
    with pytest.raises(KeyError, match="unknown attack"):
        get_attack("pgd-typo")
    model = next(iter(LEARNED))
    codec = smoke_codec(smoke_run, model, LEARNED[model]["qualities"][0])
    a = get_attack("sda")(codec, images[:1], None, FAST)
    b = get_attack("srda")(codec, images[:1], (0.0, 1.0), FAST)
    assert torch.equal(a.x_adv, b.x_adv)


# -- local maps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(LEARNED))
def test_local_maps_add_up_to_the_global_figures(smoke_run, images, model):
    codec = smoke_codec(smoke_run, model, LEARNED[model]["qualities"][0])
    x = images[:1]
    row, maps = assess_image(codec, x, x)
    h, w = x.shape[-2:]
    assert maps["rate"].sum().item() / (h * w) == pytest.approx(row["bpp_est"], rel=1e-5)
    assert maps["dist"].mean().item() == pytest.approx(row["mse255"], rel=1e-5)
    assert torch.allclose(distortion_map(maps["x_hat"], x).mean((1, 2)), torch.tensor([row["mse255"]]))
    assert rate_map(codec, x).shape[-2:] == maps["rate"].shape


def test_success_ratio_counts_elements_above_threshold():
    m = torch.tensor([[0.0, 1.0], [2.0, float("nan")]])
    assert success_ratio(m, [-1, 0.5, 1.5, 5]).tolist() == [0.75, 0.5, 0.25, 0.0]


def test_coder_failure_is_recorded_not_raised(smoke_run, images):
    model = next(iter(LEARNED))
    codec = smoke_codec(smoke_run, model, LEARNED[model]["qualities"][0])

    def broken(_x):
        raise ValueError("symbol out of range")

    codec.compress = broken
    row, maps = assess_image(codec, images[:1], images[:1])
    assert "symbol out of range" in row["error"] and math.isnan(row["bpp_actual"])
    assert torch.isnan(maps["dist"]).all() and maps["x_hat"] is None


# -- aggregation and the workflow ----------------------------------------------------------------


def test_table2_recomputed_from_rows(smoke_run):
    out = smoke_run / SMOKE["results"]
    # Table II reads the configured attacks' rows; attack/tau_ablation/ holds the tau ablation's own.
    paths = [p for a in SMOKE["attack"]["attacks"] for p in sorted((out / "attack" / a).glob("*/rows.csv"))]
    rows = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    t = pd.read_csv(out / "tables" / "attack" / "table2.csv").set_index("model")
    # Table II covers the attack section's codecs; defended codecs (the defense stage) share the
    # attack rules and directory, and have their own tables.
    models = SMOKE["attack"]["models"] or list(SMOKE["codecs"]["learned"])
    assert set(t.index) == set(models)
    main = rows[~rows["transfer"] & rows["model"].isin(models)]
    for (model, attack), g in main.groupby(["model", "attack"]):
        mus, sigmas = [], []
        for _, gd in g.groupby("direction"):
            per_q = [gq["dD_mse255"].mean() for _, gq in gd.groupby("quality")]
            mus.append(np.mean(per_q))
            sigmas.append(np.std(per_q))
        assert t.loc[model, f"{attack}_mu_dD_mse255"] == pytest.approx(np.mean(mus), rel=1e-6)
        assert t.loc[model, f"{attack}_sigma_dD_mse255"] == pytest.approx(np.mean(sigmas), rel=1e-6, abs=1e-9)
        dr = np.mean([gd.groupby("quality")["dR_actual_bpp"].mean().mean() for _, gd in g.groupby("direction")])
        assert t.loc[model, f"{attack}_mu_dR_actual_bpp"] == pytest.approx(dr, rel=1e-6, abs=1e-12)
        assert t.loc[model, f"{attack}_n_rows"] == len(g)
    # every row was re-measured by real coding and names its proxy
    assert set(rows["proxy"]) == {SMOKE["attack"]["proxy"]}
    assert (rows["bpp_actual"] > 0).all() and (rows["perturbation_mse"] <= 1e-3 + 1e-9).all()


def test_only_the_transfer_source_is_coded_by_every_submodel(smoke_run):
    """Fig. 3 reads the images crafted for one submodel; coding every other source's with every
    submodel too cost a third of an SRDA job for rows nothing read."""
    idx = SMOKE["attack"]["transfer_source_index"]
    checked = 0
    for p in sorted((smoke_run / SMOKE["results"] / "attack" / "srda").glob("*/rows.csv")):
        rows = pd.read_csv(p)
        qs = sorted(rows["quality"].unique())
        if len(qs) < 2:
            continue
        src = rows["attacked_quality"].astype(str)
        transfer = rows[rows["transfer"].astype(bool)]
        assert set(transfer["attacked_quality"].astype(str)) == {str(qs[idx])}, p
        assert set(rows.loc[src == str(qs[idx]), "quality"]) == set(qs), p
        assert (rows.loc[src != str(qs[idx]), "quality"].astype(str) == src[src != str(qs[idx])]).all(), p
        checked += 1
    assert checked


def test_table2_counts_invalid_rows_and_leaves_them_out():
    base = {"model": "m", "attack": "srda", "direction": "sda", "transfer": False, "error": "",
            "bpp_actual": 1.0, "mse255": 10.0, "bpp_actual_clean": 0.5, "mse255_clean": 5.0,
            "dR_actual_bpp": 0.5, "dR_est_bpp": 0.4, "dD_mse255": 5.0}
    rows = pd.DataFrame([{**base, "quality": 1, "image": "a"}, {**base, "quality": 1, "image": "b",
                         "mse255": math.nan, "dD_mse255": math.nan}, {**base, "quality": 2, "image": "a"}])
    t = table2(rows).set_index("model")
    assert t.loc["m", "srda_n_invalid"] == 1 and t.loc["m", "srda_n_rows"] == 3
    assert t.loc["m", "srda_mu_dD_mse255"] == pytest.approx(5.0)
    # the invalid row is out of the interval too: one valid image is left, a zero-width interval
    assert t.loc["m", "srda_n_images"] == 1
    assert t.loc["m", "srda_mu_dD_mse255_lo"] == t.loc["m", "srda_mu_dD_mse255_hi"] == pytest.approx(5.0)


def test_table2_rows_state_the_proxy_each_model_was_attacked_with():
    """Table II's `proxy` column is read off the rows, per model: a constant would pass a one-proxy table."""
    base = {"attack": "srda", "direction": "sda", "quality": 1, "transfer": False, "error": "",
            "bpp_actual": 1.0, "mse255": 10.0, "bpp_actual_clean": 0.5, "mse255_clean": 5.0,
            "dR_actual_bpp": 0.5, "dR_est_bpp": 0.4, "dD_mse255": 5.0}
    rows = pd.DataFrame([{**base, "model": "a", "image": "x", "proxy": "noise"},
                         {**base, "model": "b", "image": "x", "proxy": "hybrid"},
                         {**base, "model": "c", "image": "x", "proxy": "ste"},
                         {**base, "model": "c", "image": "y", "proxy": "noise"},
                         {**base, "model": "c", "image": "z", "proxy": "ste", "transfer": True, "attack": "srda"}])
    t = table2(rows).set_index("model")
    assert t["proxy"].to_dict() == {"a": "noise", "b": "hybrid", "c": "noise+ste"}
    assert list(t.columns[:1]) == ["proxy"]  # beside the model name, before the numbers


def test_workflow_writes_every_attack_target(smoke_run):
    out = smoke_run / SMOKE["results"]
    atk = SMOKE["attack"]
    for stem in ATTACK_FIGURES.plan(atk["attacks"]):  # every registered figure: per attack, or once
        p = out / "figures" / "attack" / f"{stem}.pdf"
        assert p.exists() and p.stat().st_size > 1000, p
    assert read_markdown((out / "tables" / "attack" / "table2.md").read_text()).columns[0] == "model"
    for a in atk["attacks"]:
        for m in LEARNED:
            pngs = list((out / "attack" / a / m / "adv").rglob("*.png"))
            n_src = 1 if a == "arda" else len(LEARNED[m]["qualities"])
            assert len(pngs) == n_src * len(atk["directions"]) * atk["images"]
            lat = pd.read_csv(out / "attack" / a / m / "latents.csv")
            assert {"clean", *atk["latent_directions"]} <= set(lat["direction"])


def test_attack_schema_rejects_a_typo():
    from snakemake.utils import validate

    section = {**SMOKE["attack"], "stepz": 3}
    with pytest.raises(Exception, match="stepz"):
        validate(section, str(ROOT / "workflow" / "schemas" / "attack.schema.yaml"))
