"""Training loop: every level of a variable-rate codec in each step, guards, per-codec overrides."""

from __future__ import annotations

import json
import re

import pytest
import torch
import yaml

from advcompress.codecs import make_codec
from advcompress.codecs.learned import estimated_bpp
from advcompress.config import load_tier
from advcompress.foundation.train import (
    PatchSampler,
    rd_loss,
    rd_optimizers,
    rd_step_loss,
    train_codec,
)
from advcompress.metrics import mse255
from tests.conftest import copy_workflow, snakemake

SMALL = {"N": 16, "M": 16}


def _sampler(photos, seed=0):
    return PatchSampler(photos, 64, torch.Generator().manual_seed(seed))


def test_variable_rate_step_averages_the_loss_over_every_level(photos):
    codec = make_codec("mbt2018-mean-vbr", 1, weights="untrained", widths=SMALL)
    net = codec.net.train()
    seen, losses = [], []
    forward = net.forward

    def spy(x, s):
        out = forward(x, s=s)
        seen.append((s, x.shape[0]))
        losses.append(rd_loss(out, x, codec.arch.rd_lambda(s + 1))["loss"].item())
        return out

    net.forward = spy
    torch.manual_seed(0)  # the vbr forward's noise
    terms = rd_step_loss(codec, _sampler(photos), [1, 4, 8], batch_size=6, device="cpu")
    assert seen == [(0, 2), (3, 2), (7, 2)]  # quality q -> gain index q - 1, 6 / 3 patches each
    assert terms["loss"].item() == pytest.approx(sum(losses) / 3, rel=1e-4)


def test_variable_rate_model_trains_its_top_level_first(photos):
    codec = make_codec("mbt2018-mean-vbr", 1, weights="untrained", widths=SMALL)
    net = codec.net
    seen = []
    forward = net.forward

    def spy(x, s):
        seen.append(s)
        return forward(x, s=s)

    net.forward = spy
    train_codec(codec, _sampler(photos), [1, 4, 8], steps=4, batch_size=3, lr=1e-4, progress=False,
                top_level_first=0.5)
    # steps 0-1: the highest quality alone (gain index 7); steps 2-3: every level
    assert seen == [7, 7, 0, 3, 7, 0, 3, 7]
    with pytest.raises(ValueError, match="top_level_first"):
        train_codec(codec, _sampler(photos), [1, 4, 8], steps=2, batch_size=3, lr=1e-4, progress=False,
                    top_level_first=1.0)


def test_fixed_rate_step_is_the_plain_rd_loss(photos):
    codec = make_codec("bmshj2018-factorized", 4, weights="untrained", widths=SMALL)
    codec.net.train()
    torch.manual_seed(1)  # the training-mode quantisation noise
    terms = rd_step_loss(codec, _sampler(photos), [4], batch_size=3, device="cpu")
    x = _sampler(photos).batch(3)
    torch.manual_seed(1)
    again = rd_loss(codec.net(x), x, codec.arch.rd_lambda(4))
    for key in ("bpp", "mse255", "loss"):
        assert terms[key].item() == pytest.approx(again[key].item(), rel=1e-6)


def test_compressai_loss_is_the_projects_rd_loss_in_its_units():
    """CompressAI's lambda * 255^2 * MSE is lambda times the project's 0-255 MSE, and its rate is
    the batch mean of the project's one rate function (`estimated_bpp`) on a random batch."""
    codec = make_codec("bmshj2018-hyperprior", 3, weights="untrained", widths=SMALL)
    torch.manual_seed(3)
    x = torch.rand(3, 3, 64, 64)
    out = codec.net.train()(x)
    lmbda = codec.arch.rd_lambda(3)
    terms = rd_loss(out, x, lmbda)
    bpp = estimated_bpp(out, 64 * 64).mean()
    d = mse255(out["x_hat"], x).mean()
    assert terms["bpp"].item() == pytest.approx(bpp.item(), rel=1e-6)
    assert terms["mse255"].item() == pytest.approx(d.item(), rel=1e-6)
    assert terms["loss"].item() == pytest.approx((bpp + lmbda * d).item(), rel=1e-6)
    assert lmbda * d.item() > 10 * bpp.item()  # untrained: D dominates, so a wrong D scale shows


@pytest.mark.parametrize("name, widths", [
    ("bmshj2018-factorized", SMALL), ("mbt2018-mean-vbr", SMALL),
    ("elic", {"N": 16, "M": 32, "cc_hidden": [16, 16], "ep_hidden": 32, "res_blocks": 1}),
])
def test_optimizers_split_the_quantiles_from_the_network(name, widths):
    """The auxiliary Adam holds exactly the entropy bottleneck's quantiles, the main one the rest."""
    codec = make_codec(name, 1, weights="untrained", widths=widths)
    opt, aux_opt = rd_optimizers(codec.net, lr=1e-4, aux_lr=1e-3)
    named = dict(codec.net.named_parameters())
    group = {n for n, p in named.items() for q in aux_opt.param_groups[0]["params"] if p is q}
    rest = {n for n, p in named.items() for q in opt.param_groups[0]["params"] if p is q}
    assert group == {n for n in named if n.endswith(".quantiles")} and len(group) == 1
    assert rest == set(named) - group
    assert (opt.param_groups[0]["lr"], aux_opt.param_groups[0]["lr"]) == (1e-4, 1e-3)


def test_zero_steps_is_a_clear_error(photos):
    codec = make_codec("bmshj2018-factorized", 4, weights="untrained", widths=SMALL)
    with pytest.raises(ValueError, match="at least one step"):
        train_codec(codec, _sampler(photos), [4], steps=0, batch_size=2, lr=1e-3, progress=False)


def test_codec_overrides_steps_and_lr_of_train_lic(tmp_path):
    """`codecs.learned.<name>.steps` sets the from-scratch job, `.warm_start_steps` the later ones, `.lr` both."""
    work = copy_workflow(tmp_path / "wf")
    cfg = load_tier(work / "config" / "smoke.yaml", root=work)
    name, spec = next((n, c) for n, c in cfg["codecs"]["learned"].items() if len(c["qualities"]) > 1)
    change = {"codecs": {"learned": {name: {"steps": 7, "lr": 3e-4, "warm_start_steps": 5}}}}
    (work / "config" / "steps.yaml").write_text(yaml.safe_dump(change))  # a second overlay, merged over the first
    qs = spec["qualities"]
    proc = snakemake(work, "--configfile", "config/smoke.yaml", "config/steps.yaml", "-n", "-p", "--forceall",
                     f"{cfg['results']}/checkpoints/codecs/{name}/q{qs[1]}.pt")
    settings = {}
    for q, blob in re.findall(r"--out \S+/q(\d+)\.pt .*?--settings '(\{.*?\})'", proc.stdout):
        settings[int(q)] = json.loads(blob)
    assert settings[qs[0]]["steps"] == 7 and settings[qs[0]]["lr"] == 3e-4
    assert settings[qs[1]]["steps"] == 5 and settings[qs[1]]["lr"] == 3e-4


def test_each_level_pulls_in_proportion_to_its_own_loss_not_its_lambda():
    """A level whose loss is 100x larger (a larger lambda) must not get a 100x larger gradient; the
    value stays the plain mean. A plain mean of the levels fails the first assertion."""
    from advcompress.foundation.train import balance_levels

    theta = torch.tensor([1.0, -2.0], requires_grad=True)

    def grad(scale_top: float) -> torch.Tensor:
        low, top = (theta**2).sum(), scale_top * (theta - 1).abs().sum()
        (g,) = torch.autograd.grad(balance_levels([low, top]), theta)
        return g / float((low + top).detach() / 2)  # per unit of the mean loss

    torch.testing.assert_close(grad(1.0), grad(100.0))
    low, top = (theta**2).sum(), 100 * (theta - 1).abs().sum()
    assert balance_levels([low, top]).item() == pytest.approx((low + top).item() / 2)
    assert balance_levels([low]) is low  # a fixed-rate codec: its plain loss


def test_training_images_held_as_8bit_codes_give_the_same_patches(tmp_path, photos):
    """Training sets are loaded as uint8 (a quarter of the memory: DIV2K at paper scale) and the
    sampler's batches are the float patches the float images give, bit for bit."""
    from advcompress.data import load_image_folder, read_image, save_png, write_manifest

    for i, x in enumerate(photos[:2]):
        save_png(x, tmp_path / f"im{i}.png")
    write_manifest(tmp_path)
    _, as_float = load_image_folder(tmp_path)
    _, as_codes = load_image_folder(tmp_path, as_uint8=True)
    assert all(c.dtype == torch.uint8 and torch.equal(c.float() / 255, f) for c, f in zip(as_codes, as_float, strict=True))
    assert torch.equal(read_image(tmp_path / "im0.png"), as_float[0])
    a, b = _sampler(as_float, seed=3).batch(5), _sampler(as_codes, seed=3).batch(5)
    assert b.dtype == torch.float32 and torch.equal(a, b)
