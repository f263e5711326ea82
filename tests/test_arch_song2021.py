"""Song2021 (QmapCompression) as a registered codec: contract, coding, official keys, training."""

import json
from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.song2021 import OFFICIAL, Song2021, from_state_dict
from tests import arch_checks as checks

SMALL = {"N": 32, "M": 32, "prior_nc": 8, "sft_hidden": 16}
REFERENCE = Path(__file__).parent / "reference" / "song2021_state_dict.json"


def smooth_image(size=128, seed=0):
    return checks.smooth_map_image(size, seed)


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return make_codec("song2021", 40, weights="untrained", widths=SMALL)


def test_registered_with_quality_levels():
    checks.check_quality_map_levels("song2021", OFFICIAL)


def test_forward_finite_in_eval(codec):
    checks.check_forward_finite_in_eval(codec, smooth_image())


def test_roundtrip_matches_forward(codec):
    checks.check_roundtrip_matches_forward(codec, smooth_image(seed=1))


def test_quality_map_changes_the_code():
    torch.manual_seed(0)
    net = Song2021(**SMALL).eval()
    x = smooth_image()
    qmap = torch.linspace(0, 1, 128).expand(1, 1, 128, 128)
    with torch.no_grad():
        a, b, c = (net.g_a(x, net.quality_map(x, s)) for s in (0.1, 0.9, qmap))
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


def test_ste_proxy_gives_input_gradient(codec):
    checks.check_ste_input_gradient(codec, smooth_image())


def test_official_state_dict_loads_strictly():
    """Keys/shapes transcribed from the official code load into the official-width model."""
    ref = json.loads(REFERENCE.read_text())
    snapshot = {"itr": 0, "model": {k: torch.zeros(shape) for k, shape in ref.items()}}
    net = from_state_dict(snapshot)  # official_key_map + width inference + strict load
    mine = {k: list(v.shape) for k, v in Song2021(**OFFICIAL).state_dict().items()}
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == mine
    assert len(mine) == len(ref)


def test_checkpoint_reload_codes_identically(codec, tmp_path):
    checks.check_reload_codes_identically(codec, SMALL, tmp_path, smooth_image(seed=2))


def test_training_lowers_rd_loss():
    torch.manual_seed(0)
    x = torch.cat([smooth_image(64, seed=3), smooth_image(64, seed=4)])  # 64 px: fallback padding
    checks.check_training_lowers_eval_rd_loss(Song2021(**SMALL), x)
