"""Cai2022 (HiFi-VRIC) as a registered codec: contract, coding, official keys, training."""

import json
import warnings
from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.cai2022 import (
    OFFICIAL,
    Cai2022,
    InvComp,
    official_key_map,
    widths_from_state_dict,
)
from advcompress.codecs.learned import ARCHITECTURES, quantization_proxy, save_checkpoint

SMALL = {
    "N": 32,
    "M": 32,
    "enh_nf": 8,
    "enh_gc": 8,
    "couplings": 1,
    "inn_hidden": 16,
    "iat_hidden": 8,
}
REFERENCE = Path(__file__).parent / "reference" / "cai2022_state_dict.json"


def smooth_image(size=64, seed=0):
    """A smooth random image: low-frequency noise upsampled, so a few steps can learn it."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size // 16, size // 16, generator=g)
    return torch.nn.functional.interpolate(
        coarse, size=(size, size), mode="bilinear", align_corners=False
    )


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return make_codec("cai2022", 55, weights="untrained", widths=SMALL)


def test_registered_with_quality_levels():
    arch = ARCHITECTURES["cai2022"]
    assert arch.variable_rate
    assert [arch.level(q) for q in (10, 25, 40, 55, 70, 90)] == [0.1, 0.25, 0.4, 0.55, 0.7, 0.9]
    assert arch.official_widths(90) == OFFICIAL


def test_forward_finite_in_eval(codec):
    x = smooth_image()
    out = codec.forward(x)
    assert out["x_hat"].shape == x.shape
    for lik in out["likelihoods"].values():
        assert torch.isfinite(lik).all() and (lik > 0).all()


def test_roundtrip_matches_forward(codec):
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = codec.forward(x)["x_hat"].clamp(0, 1)
    bs = codec.compress(x)
    assert bs.nbytes > 0
    torch.testing.assert_close(codec.decompress(bs), ref, atol=1e-5, rtol=0)


def test_invertible_transform_inverts_up_to_the_channel_mean():
    """With M = 768 no channels are averaged, so g_s(g_a(x)) through the INN alone is x."""
    torch.manual_seed(0)
    inn = InvComp(768, couplings=1, hidden=8, iat_hidden=8)
    for p in inn.parameters():  # leave the zero-initialised identity start
        p.data.add_(0.01 * torch.randn_like(p))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(inn(inn(x, 0.3), 0.3, rev=True), x, atol=1e-4, rtol=0)


def test_quality_changes_the_latent():
    torch.manual_seed(0)
    net = Cai2022(**SMALL).eval()
    for p in net.inv.parameters():
        p.data.add_(0.01 * torch.randn_like(p))
    x = smooth_image()
    with torch.no_grad():
        a, b = net.g_a(x, 0.1), net.g_a(x, 0.9)
    assert not torch.allclose(a, b)


def test_ste_proxy_gives_input_gradient(codec):
    x = smooth_image().requires_grad_(True)
    with quantization_proxy(codec.net, "ste"):
        out = codec.net(x, s=0.55)
    loss = sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
    (loss + out["x_hat"].square().sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_official_state_dict_loads_strictly():
    """Keys/shapes transcribed from the official code load into the official-width model.

    The model is built on the meta device (a constructor only, no 200 MB of weights).
    """
    ref = json.loads(REFERENCE.read_text())
    snapshot = {"itr": 0, "model": {k: torch.zeros(shape) for k, shape in ref.items()}}
    state = official_key_map(snapshot)
    assert widths_from_state_dict(state) == OFFICIAL
    with torch.device("meta"):
        net = Cai2022(**OFFICIAL)
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == {
        k: list(v.shape) for k, v in state.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copying into meta parameters is a documented no-op
        net.load_state_dict(state, strict=True)


def test_checkpoint_reload_codes_identically(codec, tmp_path):
    path = tmp_path / "cai2022.pt"
    save_checkpoint(codec, path, {"widths": SMALL})
    again = make_codec("cai2022", 55, weights="trained", checkpoint=path, widths=SMALL)
    x = smooth_image(seed=2)
    assert again.compress(x).strings == codec.compress(x).strings


def test_training_lowers_rd_loss():
    torch.manual_seed(0)
    net = Cai2022(**SMALL)
    x = torch.cat([smooth_image(seed=3), smooth_image(seed=4)])
    lmbda, s = 0.0130, 0.5

    def rd_loss():
        out = net(x, s=s)
        bpp = sum(-torch.log2(v).sum() for v in out["likelihoods"].values()) / (x.numel() / 3)
        return bpp + lmbda * 255**2 * torch.mean((out["x_hat"] - x) ** 2)

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.eval()
    with torch.no_grad():
        before = rd_loss().item()
    net.train()
    for _ in range(10):
        opt.zero_grad()
        (rd_loss() + net.aux_loss()).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        after = rd_loss().item()
    assert after < before
