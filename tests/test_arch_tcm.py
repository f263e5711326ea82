"""Liu2023 TCM as a registered codec: shapes of the official checkpoint, coding, training."""

import json
from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.tcm import TCM, from_official_state_dict, official_key_map
from advcompress.codecs.learned import ARCHITECTURES, quantization_proxy, save_checkpoint

REFERENCE = Path(__file__).parent / "reference"

# The default tier's small TCM (see docs/codecs/tcm.md).
SMALL = {
    "N": 32,
    "M": 96,
    "config": [2, 2, 2, 2, 2, 2],
    "head_dim": [16, 16, 16, 16, 16, 16],
    "window_size": 4,
    "Z": 64,
    "hyper_head_dim": 16,
    "hyper_window": 2,
    "num_slices": 4,
    "max_support_slices": 2,
    "atten_inter": 32,
    "atten_head_dim": 16,
    "cc_hidden": [64, 32],
}


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return make_codec("tcm", 3, weights="untrained", widths=SMALL)


def smooth_image(size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=size, mode="bicubic")
    return x.clamp(0, 1)


def rd_loss(out, x, lmbda=0.0067):
    bits = sum((-torch.log2(lik)).sum() for lik in out["likelihoods"].values())
    return bits / (x.shape[0] * x.shape[-2] * x.shape[-1]) + lmbda * 255**2 * ((out["x_hat"] - x) ** 2).mean()


def test_registered():
    arch = ARCHITECTURES["tcm"]
    assert not arch.variable_rate and arch.pad_multiple == 64
    assert "drive.google.com" in arch.pretrained_url(1)
    with pytest.raises(ValueError):
        arch.pretrained_url(8)


def test_forward_finite_likelihoods(codec):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = codec(x)
    assert out["x_hat"].shape == x.shape
    assert out["likelihoods"]["y"].shape == (1, 96, 4, 4)
    assert out["likelihoods"]["z"].shape == (1, 64, 1, 1)
    for lik in out["likelihoods"].values():
        assert torch.isfinite(lik).all() and (lik > 0).all() and (lik <= 1).all()


def test_roundtrip_decodes_what_forward_reconstructs(codec):
    x = torch.rand(1, 3, 60, 72)  # padded to 64x128 inside the codec
    with torch.no_grad():
        expected = codec(x)["x_hat"].clamp(0, 1)
    decoded, bs = codec.roundtrip(x)
    assert decoded.shape == x.shape
    assert len(bs.strings) == 2 and bs.nbytes > 0
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "reference, widths",
    [("tcm_state_dict.json", {"N": 128, "M": 320}), ("tcm_n64_state_dict.json", None)],
)
def test_state_dict_matches_official_reference(reference, widths):
    """N=128 is the code's default (large model); N=64 is official_widths (released ladder)."""
    reference = json.loads((REFERENCE / reference).read_text())
    reference = official_key_map({k: tuple(v) for k, v in reference.items()})
    net = TCM(**(widths or ARCHITECTURES["tcm"].official_widths(1)))
    mine = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert sorted(mine) == sorted(reference)
    assert {k: v for k, v in mine.items() if v != reference[k]} == {}


def test_official_layout_loads_strictly(tmp_path):
    """A file in the official layout (DataParallel prefix, old bottleneck names) loads strictly."""
    torch.manual_seed(1)
    net = TCM(**SMALL)
    official = {}
    for k, v in net.state_dict().items():
        k = k.replace("entropy_bottleneck.matrices.", "entropy_bottleneck._matrix")
        k = k.replace("entropy_bottleneck.biases.", "entropy_bottleneck._bias")
        k = k.replace("entropy_bottleneck.factors.", "entropy_bottleneck._factor")
        official["module." + k] = v
    loaded = from_official_state_dict({"state_dict": official})
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in net.state_dict().items())
    path = tmp_path / "official.pth.tar"
    torch.save({"epoch": 1, "state_dict": official}, path)
    codec = make_codec("tcm", 3, weights="pretrained", checkpoint=path)
    loaded = dict(codec.net.named_parameters())  # buffers: update() has rebuilt the coder tables
    assert all(torch.equal(v, loaded[k]) for k, v in net.named_parameters())


def test_checkpoint_reloads_and_codes_identically(codec, tmp_path):
    path = tmp_path / "tcm.pt"
    save_checkpoint(codec, path, {"quality": 3})
    again = make_codec("tcm", 3, weights="trained", checkpoint=path, widths=SMALL)
    x = smooth_image(64, seed=3)
    assert codec.compress(x).strings == again.compress(x).strings


def test_ste_proxy_gives_input_gradient_in_eval_mode(codec):
    x = smooth_image(64, seed=4).requires_grad_(True)
    with quantization_proxy(codec.net, "ste"):
        out = codec.net(x)
    rd_loss(out, x).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_training_lowers_rd_loss():
    torch.manual_seed(0)
    net = TCM(**SMALL).train()
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
