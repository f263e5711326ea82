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
from tests import arch_checks as checks

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
    return checks.smooth_map_image(size, seed)


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return make_codec("cai2022", 55, weights="untrained", widths=SMALL)


def test_registered_with_quality_levels():
    checks.check_quality_map_levels("cai2022", OFFICIAL)


def test_forward_finite_in_eval(codec):
    checks.check_forward_finite_in_eval(codec, smooth_image())


def test_roundtrip_matches_forward(codec):
    checks.check_roundtrip_matches_forward(codec, torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(1)))


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
    checks.check_ste_input_gradient(codec, smooth_image())


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
    checks.check_reload_codes_identically(codec, SMALL, tmp_path, smooth_image(seed=2))


def test_training_lowers_rd_loss():
    torch.manual_seed(0)
    x = torch.cat([smooth_image(seed=3), smooth_image(seed=4)])
    checks.check_training_lowers_eval_rd_loss(Cai2022(**SMALL), x)
