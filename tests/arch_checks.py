"""Checks shared by the tests of registered learned codecs (STF and TCM; Song2021 and Cai2022).

The two codecs share their entropy model and their CompressAI contract, so their tests check
the same things; each check is written once here, as a plain function of the registered name
(and widths, or the small codec a test module builds), and each test module calls it.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.stf import official_key_map
from advcompress.codecs.learned import ARCHITECTURES, quantization_proxy, save_checkpoint
from advcompress.foundation.train import rd_loss as rd_terms


def smooth_image(size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=size, mode="bicubic")
    return x.clamp(0, 1)


def rd_loss(out, x, lmbda=0.0067):
    """The training objective (CompressAI's R + lambda * 255^2 * MSE) at a default lambda."""
    return rd_terms(out, x, lmbda)["loss"]


def check_registered(name: str):
    arch = ARCHITECTURES[name]
    assert not arch.variable_rate and arch.pad_multiple == 64
    assert "drive.google.com" in arch.pretrained_url(1)
    with pytest.raises(ValueError):
        arch.pretrained_url(8)


def check_forward_finite_likelihoods(codec, y_channels: int, z_channels: int):
    """A 64x64 image: y at 1/16, z at 1/64, every likelihood in (0, 1]."""
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = codec(x)
    assert out["x_hat"].shape == x.shape
    assert out["likelihoods"]["y"].shape == (1, y_channels, 4, 4)
    assert out["likelihoods"]["z"].shape == (1, z_channels, 1, 1)
    for lik in out["likelihoods"].values():
        assert torch.isfinite(lik).all() and (lik > 0).all() and (lik <= 1).all()


def check_roundtrip_decodes_what_forward_reconstructs(codec):
    x = torch.rand(1, 3, 60, 72)  # padded to 64x128 inside the codec
    with torch.no_grad():
        expected = codec(x)["x_hat"].clamp(0, 1)
    decoded, bs = codec.roundtrip(x)
    assert decoded.shape == x.shape
    assert len(bs.strings) == 2 and bs.nbytes > 0
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)


def check_state_dict_matches_reference(name: str, reference: Path, widths: dict):
    """Every key and shape of a model built to `widths` equals the official checkpoint's."""
    reference = json.loads(reference.read_text())
    reference = official_key_map({k: tuple(v) for k, v in reference.items()})
    net = ARCHITECTURES[name].make(**widths)
    mine = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert sorted(mine) == sorted(reference)
    assert {k: v for k, v in mine.items() if v != reference[k]} == {}


def check_official_layout_loads_strictly(name: str, widths: dict, tmp_path: Path):
    """A file in the official layout (DataParallel prefix, old bottleneck names) loads strictly."""
    arch = ARCHITECTURES[name]
    torch.manual_seed(1)
    net = arch.make(**widths)
    official = {}
    for k, v in net.state_dict().items():
        k = k.replace("entropy_bottleneck.matrices.", "entropy_bottleneck._matrix")
        k = k.replace("entropy_bottleneck.biases.", "entropy_bottleneck._bias")
        k = k.replace("entropy_bottleneck.factors.", "entropy_bottleneck._factor")
        official["module." + k] = v
    loaded = arch.from_state_dict({"state_dict": official}).state_dict()  # once: TCM has ~1100 keys
    assert all(torch.equal(v, loaded[k]) for k, v in net.state_dict().items())
    path = tmp_path / "official.pth.tar"
    torch.save({"epoch": 1, "state_dict": official}, path)
    codec = make_codec(name, 3, weights="pretrained", checkpoint=path)
    loaded = dict(codec.net.named_parameters())  # buffers: update() has rebuilt the coder tables
    assert all(torch.equal(v, loaded[k]) for k, v in net.named_parameters())


def check_checkpoint_reloads_and_codes_identically(codec, name: str, widths: dict, tmp_path: Path):
    path = tmp_path / f"{name}.pt"
    save_checkpoint(codec, path, {"quality": 3})
    again = make_codec(name, 3, weights="trained", checkpoint=path, widths=widths)
    x = smooth_image(64, seed=3)
    assert codec.compress(x).strings == again.compress(x).strings


def check_ste_proxy_gives_input_gradient_in_eval_mode(codec):
    x = smooth_image(64, seed=4).requires_grad_(True)
    with quantization_proxy(codec.net, "ste"):
        out = codec.net(x)
    rd_loss(out, x).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def check_training_lowers_rd_loss(name: str, widths: dict):
    torch.manual_seed(0)
    net = ARCHITECTURES[name].make(**widths).train()
    x = torch.cat([smooth_image(64, seed=s) for s in range(2)])
    main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    opt = torch.optim.Adam(main, lr=1e-3)
    aux = torch.optim.Adam([p for n, p in net.named_parameters() if n.endswith(".quantiles")], lr=1e-3)
    losses = []
    for _ in range(8):
        loss = rd_loss(net(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        aux.zero_grad()
        net.aux_loss().backward()
        aux.step()
        losses.append(loss.item())
    assert all(map(lambda v: v == v, losses))
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0]


# -- variable-rate codecs driven by a quality map (Song2021, Cai2022) -----------------------------


def smooth_map_image(size=64, seed=0):
    """A smooth random image: low-frequency noise upsampled, so a few steps can learn it."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size // 16, size // 16, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def check_quality_map_levels(name: str, official: dict):
    """Registry quality q is the uniform map q / 100; official widths at every level."""
    arch = ARCHITECTURES[name]
    assert arch.variable_rate
    assert [arch.level(q) for q in (10, 25, 40, 55, 70, 90)] == [0.1, 0.25, 0.4, 0.55, 0.7, 0.9]
    assert arch.official_widths(10) == official == arch.official_widths(90)
    # the papers' lambda(q) = 1e-3 exp(4.382 q) on the map value: 1e-3 at q = 0, 0.0800 at q = 1
    assert arch.rd_lambda(0) == pytest.approx(1e-3) and arch.rd_lambda(100) == pytest.approx(0.0800, rel=1e-4)
    assert arch.rd_lambda(50) == pytest.approx(1e-3 * math.exp(4.382 / 2))


def check_forward_finite_in_eval(codec, x):
    out = codec.forward(x)
    assert out["x_hat"].shape == x.shape
    for lik in out["likelihoods"].values():
        assert torch.isfinite(lik).all() and (lik > 0).all()


def check_roundtrip_matches_forward(codec, x):
    with torch.no_grad():
        ref = codec.forward(x)["x_hat"].clamp(0, 1)
    bs = codec.compress(x)
    assert bs.nbytes > 0
    torch.testing.assert_close(codec.decompress(bs), ref, atol=1e-5, rtol=0)


def check_reload_codes_identically(codec, widths: dict, tmp_path: Path, x):
    """A project checkpoint reloads (weights_only) into a codec that writes the same bytes."""
    path = tmp_path / f"{codec.name}.pt"
    save_checkpoint(codec, path, {"widths": widths})
    again = make_codec(codec.name, codec.quality, weights="trained", checkpoint=path, widths=widths)
    assert again.compress(x).strings == codec.compress(x).strings


def check_ste_input_gradient(codec, x):
    x = x.clone().requires_grad_(True)
    with quantization_proxy(codec.net, "ste"):
        out = codec.net(x, s=codec.level)
    loss = sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
    (loss + out["x_hat"].square().sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def check_training_lowers_eval_rd_loss(net, x, s=0.5, lmbda=0.0130, steps=10):
    """A few Adam steps on R + lambda 255^2 MSE at level s lower the eval-mode loss."""

    def loss():
        out = net(x, s=s)
        return rd_loss(out, x, lmbda)

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.eval()
    with torch.no_grad():
        before = loss().item()
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        (loss() + net.aux_loss()).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        after = loss().item()
    assert after < before
