"""Zou2022 STF as a registered codec: shapes of the official checkpoint, coding, training.

The checks themselves are shared with TCM (tests/arch_checks.py).
"""

from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.stf import STF, from_official_state_dict
from advcompress.codecs.learned import ARCHITECTURES
from tests import arch_checks as checks

REFERENCE = Path(__file__).parent / "reference" / "stf_state_dict.json"

# The default tier's small STF (see docs/codecs/stf.md).
SMALL = {
    "embed_dim": 16,
    "depths": [2, 2, 2, 2],
    "num_heads": [1, 2, 4, 8],
    "window_size": 4,
    "num_slices": 4,
    "max_support_slices": 2,
    "cc_hidden": [64, 32],
    "drop_path_rate": 0.0,
}


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return make_codec("stf", 3, weights="untrained", widths=SMALL)


def test_registered():
    arch = ARCHITECTURES["stf"]
    assert arch.make is STF and arch.from_state_dict is from_official_state_dict
    checks.check_registered("stf")


def test_forward_finite_likelihoods(codec):
    checks.check_forward_finite_likelihoods(codec, y_channels=128, z_channels=64)


def test_roundtrip_decodes_what_forward_reconstructs(codec):
    checks.check_roundtrip_decodes_what_forward_reconstructs(codec)


def test_state_dict_matches_official_reference():
    checks.check_state_dict_matches_reference("stf", REFERENCE, ARCHITECTURES["stf"].official_widths(1))


def test_official_layout_loads_strictly(tmp_path):
    checks.check_official_layout_loads_strictly("stf", SMALL, tmp_path)


def test_checkpoint_reloads_and_codes_identically(codec, tmp_path):
    checks.check_checkpoint_reloads_and_codes_identically(codec, "stf", SMALL, tmp_path)


def test_ste_proxy_gives_input_gradient_in_eval_mode(codec):
    checks.check_ste_proxy_gives_input_gradient_in_eval_mode(codec)


def test_training_lowers_rd_loss():
    checks.check_training_lowers_rd_loss("stf", SMALL)
