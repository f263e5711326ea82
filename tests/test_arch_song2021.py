"""Song2021 (QmapCompression) as a registered codec: contract, coding, official keys, training."""

import json
from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.song2021 import OFFICIAL, Song2021, from_state_dict
from advcompress.codecs.learned import ARCHITECTURES, quantization_proxy, save_checkpoint

SMALL = {"N": 32, "M": 32, "prior_nc": 8, "sft_hidden": 16}
REFERENCE = Path(__file__).parent / "reference" / "song2021_state_dict.json"


def smooth_image(size=128, seed=0):
    """A smooth random image: low-frequency noise upsampled, so a few steps can learn it."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size // 16, size // 16, generator=g)
    return torch.nn.functional.interpolate(
        coarse, size=(size, size), mode="bilinear", align_corners=False
    )


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return make_codec("song2021", 40, weights="untrained", widths=SMALL)


def test_registered_with_quality_levels():
    arch = ARCHITECTURES["song2021"]
    assert arch.variable_rate
    assert [arch.level(q) for q in (10, 25, 40, 55, 70, 90)] == [0.1, 0.25, 0.4, 0.55, 0.7, 0.9]
    assert arch.official_widths(10) == OFFICIAL


def test_forward_finite_in_eval(codec):
    x = smooth_image()
    out = codec.forward(x)
    assert out["x_hat"].shape == x.shape
    for lik in out["likelihoods"].values():
        assert torch.isfinite(lik).all() and (lik > 0).all()


def test_roundtrip_matches_forward(codec):
    x = smooth_image(seed=1)
    with torch.no_grad():
        ref = codec.forward(x)["x_hat"].clamp(0, 1)
    bs = codec.compress(x)
    assert bs.nbytes > 0
    torch.testing.assert_close(codec.decompress(bs), ref, atol=1e-5, rtol=0)


def test_quality_map_changes_the_code():
    torch.manual_seed(0)
    net = Song2021(**SMALL).eval()
    x = smooth_image()
    qmap = torch.linspace(0, 1, 128).expand(1, 1, 128, 128)
    with torch.no_grad():
        a, b, c = (net.g_a(x, net.quality_map(x, s)) for s in (0.1, 0.9, qmap))
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


def test_ste_proxy_gives_input_gradient(codec):
    x = smooth_image().requires_grad_(True)
    with quantization_proxy(codec.net, "ste"):
        out = codec.net(x, s=0.4)
    sum(-torch.log2(v).sum() for v in out["likelihoods"].values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_official_state_dict_loads_strictly():
    """Keys/shapes transcribed from the official code load into the official-width model."""
    ref = json.loads(REFERENCE.read_text())
    snapshot = {"itr": 0, "model": {k: torch.zeros(shape) for k, shape in ref.items()}}
    net = from_state_dict(snapshot)  # official_key_map + width inference + strict load
    mine = {k: list(v.shape) for k, v in Song2021(**OFFICIAL).state_dict().items()}
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == mine
    assert len(mine) == len(ref)


def test_checkpoint_reload_codes_identically(codec, tmp_path):
    path = tmp_path / "song2021.pt"
    save_checkpoint(codec, path, {"widths": SMALL})
    again = make_codec("song2021", 40, weights="trained", checkpoint=path, widths=SMALL)
    x = smooth_image(seed=2)
    assert again.compress(x).strings == codec.compress(x).strings


def test_training_lowers_rd_loss():
    torch.manual_seed(0)
    net = Song2021(**SMALL)
    x = torch.cat([smooth_image(64, seed=3), smooth_image(64, seed=4)])  # 64 px: fallback padding
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
