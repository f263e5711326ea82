"""HiFiC (Mentzer et al. 2020) compression path as a registered codec."""

import json
from pathlib import Path

import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.hific import (
    HiFiC,
    HyperlatentDensity,
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

SMALL = {"M": 32, "N": 32, "filters": [8, 16, 24, 32, 48], "res_blocks": 2}
REFERENCE = Path(__file__).parent / "reference" / "hific_state_dict.json"
# Entropy-coder state our module holds and the port's files do not (filled by the key map).
CODER_STATE = (
    {
        "Hyperprior.hyperlatent_likelihood." + k
        for k in ("quantiles", "target", "_offset", "_quantized_cdf", "_cdf_length")
    }
    | {"Hyperprior.hyperlatent_likelihood.likelihood_lower_bound.bound"}
    | {
        "Hyperprior.gaussian_conditional." + k
        for k in (
            "_offset",
            "_quantized_cdf",
            "_cdf_length",
            "scale_table",
            "scale_bound",
            "likelihood_lower_bound.bound",
            "lower_bound_scale.bound",
        )
    }
)


def smooth_image(h=128, w=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 16, w // 16, generator=g)
    return torch.nn.functional.interpolate(
        coarse, size=(h, w), mode="bilinear", align_corners=False
    )


def small_codec(seed=0):
    torch.manual_seed(seed)
    return make_codec("hific", 2, weights="untrained", widths=SMALL)


def test_registered():
    arch = ARCHITECTURES["hific"]
    assert arch.official_widths(1)["M"] == 220 and arch.official_widths(3)["N"] == 320
    assert arch.pad_multiple == 128


def test_forward_finite_likelihoods():
    codec = small_codec()
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        out = codec.forward(x)
    assert out["x_hat"].shape == x.shape
    for lik in out["likelihoods"].values():
        assert torch.isfinite(lik).all() and (lik > 0).all()


def test_small_image_is_padded_not_rejected():
    codec = small_codec()
    x_dec, bs = codec.roundtrip(torch.rand(1, 3, 40, 56))
    assert x_dec.shape == (1, 3, 40, 56) and bs.nbytes > 0


def test_roundtrip_matches_rounded_forward():
    codec = small_codec()
    x = smooth_image(128, 256)
    with torch.no_grad():
        ref = codec.forward(x)["x_hat"].clamp(0, 1)
    x_dec, bs = codec.roundtrip(x)
    assert bs.nbytes > 0
    torch.testing.assert_close(x_dec, ref, atol=1e-5, rtol=0)


def test_proxy_gives_input_gradient():
    codec = small_codec()
    x = smooth_image().requires_grad_(True)
    with quantization_proxy(codec.net, "ste"):
        out = codec.net(x)
    loss = estimated_bpp(out, 128 * 128).sum() + out["x_hat"].square().mean()
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_hyperlatents_code_as_integers():
    torch.manual_seed(3)
    density = HyperlatentDensity(4)
    density._update_quantiles()
    density.update(force=True)
    z = 3 * torch.randn(2, 4, 3, 5)
    z_hat = density.decompress(density.compress(z), z.shape[-2:])
    torch.testing.assert_close(z_hat, torch.round(z))


def test_state_dict_matches_official_reference():
    ref = json.loads(REFERENCE.read_text())
    with torch.device("meta"):  # official widths, shapes only: no 1.6 s of weight initialisation
        net = build_net("hific", 2)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert set(ours) - set(ref) == CODER_STATE
    assert set(ref) <= set(ours)
    assert {k: ours[k] for k in ref if ours[k] != ref[k]} == {}


def test_official_key_map_loads_port_checkpoint_layout():
    torch.manual_seed(4)
    src = HiFiC(**SMALL)
    port = {f"module.{k}": v for k, v in src.state_dict().items() if k not in CODER_STATE}
    port["module.Discriminator.conv1.weight"] = torch.zeros(3)
    port["module.perceptual_loss.net.lin0.model.1.weight"] = torch.zeros(3)
    dst = HiFiC(**SMALL)
    dst.load_state_dict(official_key_map({"model_state_dict": port, "args": {}}), strict=True)
    for k, v in src.state_dict().items():
        if k not in CODER_STATE:
            assert torch.equal(v, dst.state_dict()[k]), k


def test_widths_are_read_off_the_file():
    """Released files and narrower ones (the paper-tier rehearsal's) load through one path."""
    with torch.device("meta"):
        official = build_net("hific", 3).state_dict()
    port = {f"module.{k}": v for k, v in official.items() if k not in CODER_STATE}
    assert widths_from_state_dict({"model_state_dict": port, "args": {}}) == official_widths(3)
    torch.manual_seed(6)
    src = HiFiC(**SMALL)
    port = {f"module.{k}": v for k, v in src.state_dict().items() if k not in CODER_STATE}
    dst = from_state_dict({"model_state_dict": port, "args": {}})
    assert widths_from_state_dict(dst.state_dict()) == SMALL
    for k, v in port.items():
        assert torch.equal(v, dst.state_dict()[k.removeprefix("module.")]), k


def test_checkpoint_reload_codes_identically(tmp_path):
    codec = small_codec()
    path = tmp_path / "hific.pt"
    save_checkpoint(codec, path, {"quality": 2})
    again = make_codec("hific", 2, weights="trained", checkpoint=str(path), widths=SMALL)
    x = smooth_image(seed=5)
    assert codec.compress(x).strings == again.compress(x).strings


def test_training_lowers_rd_loss():
    """Rate + MSE only: the GAN and LPIPS terms of HiFiC are out of scope for the default tier."""
    torch.manual_seed(0)
    net = HiFiC(**SMALL).train()
    x = smooth_image(128, 128, seed=7)
    params = [p for n, p in net.named_parameters() if not n.endswith("quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith("quantiles")]
    opt = torch.optim.Adam(params, lr=1e-3)
    aux_opt = torch.optim.Adam(aux, lr=1e-3)
    lam = 0.0130
    losses = []
    for _ in range(6):
        opt.zero_grad()
        aux_opt.zero_grad()
        out = net(x)
        bpp = estimated_bpp(out, 128 * 128).mean()
        loss = bpp + lam * 255**2 * torch.mean((out["x_hat"] - x) ** 2)
        loss.backward()
        opt.step()
        net.aux_loss().backward()
        aux_opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
