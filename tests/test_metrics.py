"""Every metric against values computed by hand."""

import math

import pytest
import torch

from advcompress import metrics
from advcompress.codecs.learned import estimated_bpp
from advcompress.foundation.train import rd_loss


def test_mse255_by_hand():
    x = torch.zeros(1, 3, 2, 2)
    y = x.clone()
    y[0, 0, 0, 0] = 1.0  # one channel-pixel off by the full range, out of 12 values
    assert metrics.mse255(x, y).item() == pytest.approx(255**2 / 12)


def test_psnr_by_hand():
    x = torch.zeros(1, 1, 1, 4)
    y = torch.full_like(x, 10 / 255)  # every value off by 10 grey levels: MSE255 = 100
    assert metrics.mse255(x, y).item() == pytest.approx(100, rel=1e-5)
    assert metrics.psnr_db(x, y).item() == pytest.approx(10 * math.log10(255**2 / 100), rel=1e-5)
    assert metrics.psnr_from_mse255(0.0) == math.inf


def test_perturbation_norm_matches_30db_budget():
    # eps = 1e-3 mean squared perturbation on [0, 1] <=> PSNR of exactly 30 dB.
    delta = torch.full((1, 3, 4, 4), math.sqrt(1e-3))
    assert metrics.perturbation_norm(delta).item() == pytest.approx(1e-3)
    x = torch.full((1, 3, 4, 4), 0.5)
    assert metrics.psnr_db(x, x + delta).item() == pytest.approx(30.0, abs=1e-4)


def test_quantize_8bit_clips_and_rounds():
    x = torch.tensor([-0.2, 0.0, 0.5, 1.3, 100.4 / 255])
    q = metrics.quantize_8bit(x)
    assert q.tolist() == pytest.approx([0.0, 0.0, 128 / 255, 1.0, 100 / 255])


def test_ms_ssim_identical_is_one_and_records_window():
    x = torch.rand(1, 3, 64, 64)
    value, win = metrics.ms_ssim(x, x)
    assert value.item() == pytest.approx(1.0, abs=1e-5)
    assert win == 3  # a 64-pixel side fits only the smallest window with five scales
    big, win_big = metrics.ms_ssim(torch.rand(1, 3, 192, 192), torch.rand(1, 3, 192, 192))
    assert win_big == 11 and big.item() < 0.5


def test_estimated_bpp_by_hand():
    # Likelihood 1/2 everywhere: one bit per latent element.
    lik = {"y": torch.full((1, 4, 2, 2), 0.5), "z": torch.full((1, 2, 1, 1), 0.25)}
    bits = 16 * 1 + 2 * 2
    assert estimated_bpp({"likelihoods": lik}, 8 * 8).item() == pytest.approx(bits / 64)


def test_rd_loss_by_hand():
    x = torch.zeros(2, 3, 2, 2)
    out = {"x_hat": torch.full_like(x, 1 / 255), "likelihoods": {"y": torch.full((2, 1, 1, 1), 0.5)}}
    terms = rd_loss(out, x, lmbda=0.01)
    assert terms["bpp"].item() == pytest.approx(2 / (2 * 4))
    assert terms["mse255"].item() == pytest.approx(1.0, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(0.25 + 0.01, rel=1e-5)
