"""ELIC (He et al. 2022) as a registered codec: coding, official names, checkpoints, training."""

import json
from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.elic import (
    ELIC,
    from_state_dict,
    official_key_map,
    official_widths,
    widths_from_state_dict,
)
from advcompress.codecs.learned import (
    ARCHITECTURES,
    build_net,
    estimated_bpp,
    quantization_proxy,
    save_checkpoint,
)

SMALL = {"N": 32, "M": 64, "cc_hidden": [32, 32], "ep_hidden": 64, "res_blocks": 1}
REFERENCE = Path(__file__).parent / "reference" / "elic_state_dict.json"


def smooth_image(h=64, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(
        coarse, size=(h, w), mode="bilinear", align_corners=False
    )


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return make_codec("elic", 3, weights="untrained", widths=SMALL)


def test_registered():
    assert "elic" in ARCHITECTURES
    assert ARCHITECTURES["elic"].official_widths(1) == {"N": 192, "M": 320}


def test_forward_finite_likelihoods(codec):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = codec.forward(x)
    assert out["x_hat"].shape == x.shape
    for lik in out["likelihoods"].values():
        assert torch.isfinite(lik).all() and (lik > 0).all()


def test_roundtrip_matches_rounded_forward(codec):
    x = smooth_image(128, 96)
    with torch.no_grad():
        ref = codec.forward(x)["x_hat"].clamp(0, 1)
    x_dec, bs = codec.roundtrip(x)
    assert bs.nbytes > 0
    torch.testing.assert_close(x_dec, ref, atol=1e-5, rtol=0)


def test_roundtrip_with_large_latents():
    torch.manual_seed(1)
    net = ELIC(**SMALL)
    with torch.no_grad():
        net.g_a[-2].weight.mul_(40.0)  # conv(N, M): push y far outside the CDF tables
    net.eval().update(force=True)
    x = smooth_image(64, 64, seed=3)
    with torch.no_grad():
        ref = net(x)["x_hat"].clamp(0, 1)
        enc = net.compress(x)
        dec = net.decompress(enc["strings"], enc["shape"])["x_hat"]
    torch.testing.assert_close(dec, ref, atol=1e-5, rtol=0)


def test_proxy_gives_input_gradient(codec):
    x = smooth_image().requires_grad_(True)
    with quantization_proxy(codec.net, "ste"):
        out = codec.net(x)
    loss = estimated_bpp(out, 64 * 64).sum() + out["x_hat"].square().mean()
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_state_dict_matches_official_reference():
    ref = json.loads(REFERENCE.read_text())
    net = build_net("elic", 4)  # official widths; constructor only
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert sorted(ours) == sorted(ref)
    assert {k: v for k, v in ours.items() if ref[k] != v} == {}


def test_official_key_map_loads_old_style_file():
    torch.manual_seed(2)
    src = ELIC(**SMALL)
    src.update(force=True)
    old = {}
    for k, v in src.state_dict().items():  # CompressAI < 1.2 names, DataParallel prefix
        for new, legacy in (
            ("matrices.", "_matrix"),
            ("biases.", "_bias"),
            ("factors.", "_factor"),
        ):
            k = k.replace(f"entropy_bottleneck.{new}", f"entropy_bottleneck.{legacy}")
        old[f"module.{k}"] = v
    dst = ELIC(**SMALL)
    dst.load_state_dict(official_key_map({"epoch": 3, "state_dict": old}), strict=True)
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_widths_are_read_off_the_file():
    """Released files and narrower ones (the paper-tier rehearsal's) load through one path."""
    with torch.device("meta"):
        official = build_net("elic", 2).state_dict()
    assert widths_from_state_dict({"state_dict": {f"module.{k}": v for k, v in official.items()}}) == {
        **official_widths(2), "groups": [16, 16, 32, 64, 192], "cc_hidden": [224, 128], "ep_hidden": 512,
        "res_blocks": 3}
    torch.manual_seed(6)
    src = ELIC(**SMALL, groups=(8, 8, 16, 32))
    dst = from_state_dict({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}})
    assert (dst.N, dst.M, dst.groups) == (32, 64, (8, 8, 16, 32))
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_checkpoint_reload_codes_identically(codec, tmp_path):
    path = tmp_path / "elic.pt"
    save_checkpoint(codec, path, {"quality": 3})
    again = make_codec("elic", 3, weights="trained", checkpoint=str(path), widths=SMALL)
    x = smooth_image(64, 64, seed=5)
    assert codec.compress(x).strings == again.compress(x).strings


def test_training_lowers_rd_loss():
    torch.manual_seed(0)
    net = ELIC(**SMALL).train()
    x = smooth_image(64, 64, seed=7).repeat(2, 1, 1, 1)
    params = [p for n, p in net.named_parameters() if not n.endswith("quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith("quantiles")]
    opt = torch.optim.Adam(params, lr=1e-3)
    aux_opt = torch.optim.Adam(aux, lr=1e-3)
    lam = 0.0130

    def rd_loss():
        out = net(x)
        bpp = estimated_bpp(out, 64 * 64).mean()
        return bpp + lam * 255**2 * torch.mean((out["x_hat"] - x) ** 2)

    losses = []
    for _ in range(15):
        opt.zero_grad()
        aux_opt.zero_grad()
        loss = rd_loss()
        loss.backward()
        opt.step()
        net.aux_loss().backward()
        aux_opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
