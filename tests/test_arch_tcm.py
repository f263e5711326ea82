"""Liu2023 TCM as a registered codec: shapes of the official checkpoint, coding, training.

The checks themselves are shared with STF (tests/arch_checks.py).
"""

from pathlib import Path

import pytest
import torch

from advcompress.codecs import make_codec
from advcompress.codecs.arch.tcm import TCM, from_official_state_dict
from advcompress.codecs.learned import ARCHITECTURES
from tests import arch_checks as checks

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


def test_registered():
    arch = ARCHITECTURES["tcm"]
    assert arch.make is TCM and arch.from_state_dict is from_official_state_dict
    checks.check_registered("tcm")


def test_forward_finite_likelihoods(codec):
    checks.check_forward_finite_likelihoods(codec, y_channels=96, z_channels=64)


def test_roundtrip_decodes_what_forward_reconstructs(codec):
    checks.check_roundtrip_decodes_what_forward_reconstructs(codec)


@pytest.mark.parametrize(
    "reference, widths",
    [("tcm_state_dict.json", {"N": 128, "M": 320}), ("tcm_n64_state_dict.json", None)],
)
def test_state_dict_matches_official_reference(reference, widths):
    """N=128 is the code's default (large model); N=64 is official_widths (released ladder)."""
    widths = widths or ARCHITECTURES["tcm"].official_widths(1)
    checks.check_state_dict_matches_reference("tcm", REFERENCE / reference, widths)


def test_official_layout_loads_strictly(tmp_path):
    checks.check_official_layout_loads_strictly("tcm", SMALL, tmp_path)


def test_checkpoint_reloads_and_codes_identically(codec, tmp_path):
    checks.check_checkpoint_reloads_and_codes_identically(codec, "tcm", SMALL, tmp_path)


def test_ste_proxy_gives_input_gradient_in_eval_mode(codec):
    checks.check_ste_proxy_gives_input_gradient_in_eval_mode(codec)


def test_training_lowers_rd_loss():
    checks.check_training_lowers_rd_loss("tcm", SMALL)
