"""A noise-based gradient proxy draws each sample's noise from its own generator, so batching the
attack's samples does not change the attack (as with `ste`, which draws none)."""

from __future__ import annotations

import pytest
import torch

from advcompress.attack.algorithms import attack_grid
from advcompress.codecs import make_codec
from advcompress.codecs.learned import per_sample_noise, quantization_proxy

DIRS = {"sra": (1.0, 0.0), "sda": (0.0, 1.0), "mid": (1.0, 1e-3)}
FAST = {"steps": 3, "max_warmup_steps": 3, "lr": 0.05, "seed": 7}


def _codec(name):
    torch.manual_seed(0)
    return make_codec(name, 3, weights="untrained", widths={"N": 16, "M": 24})


@pytest.mark.parametrize("name", ["bmshj2018-factorized", "bmshj2018-hyperprior"])
@pytest.mark.parametrize("proxy", ["noise", "hybrid"])
def test_noise_proxies_attack_the_same_in_any_chunking(photos, name, proxy):
    codec, images = _codec(name), torch.cat(photos)[:, :, :32, :32]
    settings = {**FAST, "proxy": proxy}
    runs = [attack_grid("srda", codec, images, DIRS, {**settings, "chunk": c}) for c in (64, 4, 1)]
    for d in DIRS:
        for other in runs[1:]:
            diff = (runs[0]["x_adv"][d] - other["x_adv"][d]).abs()
            assert diff.max() <= 2 / 255 + 1e-6, (proxy, d)  # at most a rounding flip of 8-bit levels
            assert (diff > 1e-6).float().mean() < 0.01, (proxy, d)
    # ... and the noise is real: another seed gives another attack
    reseeded = attack_grid("srda", codec, images, DIRS, {**settings, "chunk": 64, "seed": 8})
    assert any(not torch.equal(runs[0]["x_adv"][d], reseeded["x_adv"][d]) for d in DIRS)


@pytest.mark.parametrize("name", ["bmshj2018-factorized", "bmshj2018-hyperprior"])
def test_a_samples_noise_is_its_own_generators_whatever_the_batch(photos, name):
    """Each entropy model's noise for sample b comes from generator b, also through the
    EntropyBottleneck, which quantizes its input as (C, 1, B*H*W)."""
    codec, x = _codec(name), torch.cat(photos)  # 64 x 64: the hyperprior's net needs multiples of 64

    def forward(batch, seeds):
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        with quantization_proxy(codec.net, "noise"), per_sample_noise(generators):
            return codec.net(batch)["x_hat"]

    together = forward(x, [11, 12])
    alone = torch.cat([forward(x[:1], [11]), forward(x[1:], [12])])
    assert torch.allclose(together, alone, atol=1e-5)
    assert not torch.allclose(together[:1], forward(x[:1], [13]), atol=1e-5)
    with pytest.raises(ValueError, match="per-sample noise for 3 samples"):
        forward(x, [1, 2, 3])
