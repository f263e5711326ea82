"""Latent features of Figs. 12/18 (`attack.assess.latent_features`) for every registered learned codec.

Each architecture is built small and untrained and codes one real 64x64 photograph on the CPU.
The features must be the ones its eval forward computes the rate from: y_hat with the shape of
the latent (the forward's y likelihoods, M channels at the architecture's stride), z_hat with the
hyperlatent's shape, and mu and sigma^2 that reproduce the forward's y likelihoods exactly. So a
hyperlatent passed off as y_hat, or a missing mu, sigma^2 or z_hat, fails.
"""

import math

import pytest
import torch

from advcompress.attack.assess import latent_features
from advcompress.codecs import make_codec, registered_codecs
from tests.test_arch_cai2022 import SMALL as CAI2022
from tests.test_arch_elic import SMALL as ELIC
from tests.test_arch_hific import SMALL as HIFIC
from tests.test_arch_song2021 import SMALL as SONG2021
from tests.test_arch_stf import SMALL as STF
from tests.test_arch_tcm import SMALL as TCM

HYPER = {"y_hat", "z_hat", "mu", "sigma2"}
CTX = HYPER | {"context"}
COMPRESSAI = {"N": 16, "M": 24}
STF_M = STF["embed_dim"] * 2 ** (len(STF["depths"]) - 1)  # STF's M; its Z is M // 2

# name: (quality, widths, channels of y, stride of y, channels of z, features it must have)
ARCHS = {
    "bmshj2018-factorized": (3, COMPRESSAI, 24, 16, None, {"y_hat"}),
    "bmshj2018-hyperprior": (3, COMPRESSAI, 24, 16, 16, {"y_hat", "z_hat", "sigma2"}),
    "mbt2018": (3, COMPRESSAI, 24, 16, 16, CTX),
    "cheng2020-anchor": (3, {"N": 16}, 16, 16, 16, CTX),
    "cheng2020-attn": (3, {"N": 16}, 16, 16, 16, CTX),
    "mbt2018-mean-vbr": (3, COMPRESSAI, 24, 16, 16, HYPER),
    "cai2022": (55, CAI2022, CAI2022["M"], 16, CAI2022["N"], CTX),
    "elic": (3, ELIC, ELIC["M"], 16, ELIC["N"], CTX),
    "hific": (2, HIFIC, HIFIC["M"], 8, HIFIC["N"], HYPER),
    "song2021": (40, SONG2021, SONG2021["M"], 16, SONG2021["N"], HYPER),
    "stf": (3, STF, STF_M, 16, STF_M // 2, HYPER),
    "tcm": (3, TCM, TCM["M"], 16, TCM["Z"], HYPER),
}


def test_every_registered_learned_codec_is_checked():
    assert set(ARCHS) == set(registered_codecs("learned"))


def _gaussian_likelihood(y_hat, mu, sigma2):
    """CompressAI's GaussianConditional likelihood of the integer bin around y_hat, bounded."""
    v = (y_hat - mu).abs()
    sigma = sigma2.sqrt()
    cdf = lambda t: 0.5 * torch.erfc(-t / math.sqrt(2))  # noqa: E731
    return (cdf((0.5 - v) / sigma) - cdf((-0.5 - v) / sigma)).clamp_min(1e-9)


def _medians(net):
    from compressai.entropy_models import EntropyBottleneck

    (eb,) = [m for m in net.modules() if isinstance(m, EntropyBottleneck)]
    return eb._get_medians().reshape(1, -1, 1, 1)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_latent_features_are_the_latents_the_entropy_model_codes(name, photos):
    quality, widths, y_ch, stride, z_ch, keys = ARCHS[name]
    torch.manual_seed(0)
    codec = make_codec(name, quality, weights="untrained", widths=widths)
    x = photos[0]
    with torch.no_grad():
        out = codec.forward(x)
    feats = latent_features(codec, x)
    assert set(feats) == keys, {k: tuple(v.shape) for k, v in feats.items()}
    assert not [m for m in codec.net.modules() if "_likelihood" in vars(m)]  # nothing left patched

    # y_hat is the latent: M channels at 1/stride of the image, the shape the forward codes.
    y_shape = (1, y_ch, x.shape[-2] // stride, x.shape[-1] // stride)
    assert tuple(out["likelihoods"]["y"].shape) == y_shape
    assert tuple(feats["y_hat"].shape) == y_shape, {k: tuple(v.shape) for k, v in feats.items()}
    for k in ("mu", "sigma2"):
        if k in keys:
            assert tuple(feats[k].shape) == y_shape, k
    if "context" in keys:
        assert tuple(feats["context"].shape) == (1, 2 * y_ch, *y_shape[-2:])

    if z_ch is None:  # factorized prior: y_hat is the bottleneck's output, round(y - m) + m
        med = _medians(codec.net)
        torch.testing.assert_close(
            feats["y_hat"] - med, torch.round(feats["y_hat"] - med), atol=1e-4, rtol=0
        )
        return

    # z_hat is the hyperlatent: the forward's z likelihoods' shape, quantised around the medians.
    assert tuple(feats["z_hat"].shape) == tuple(out["likelihoods"]["z"].shape)
    assert feats["z_hat"].shape[1] == z_ch and feats["z_hat"].shape != feats["y_hat"].shape
    med = _medians(codec.net)
    torch.testing.assert_close(
        feats["z_hat"] - med, torch.round(feats["z_hat"] - med), atol=1e-4, rtol=0
    )

    # y_hat is quantised around mu, and (y_hat, mu, sigma^2) give the forward's y likelihoods.
    mu = feats.get("mu", torch.zeros_like(feats["y_hat"]))
    offset = feats["y_hat"] - mu
    torch.testing.assert_close(offset, torch.round(offset), atol=1e-4, rtol=0)
    assert (feats["sigma2"] > 0).all()
    torch.testing.assert_close(
        _gaussian_likelihood(feats["y_hat"], mu, feats["sigma2"]),
        out["likelihoods"]["y"],
        atol=1e-5,
        rtol=1e-4,
    )


def test_a_gaussian_conditional_the_forward_bypasses_is_an_error_not_a_relabelled_hyperlatent():
    """Cai2022's old failure mode: the model has a GaussianConditional but computes its y
    likelihoods without it, so only the bottleneck's z_hat is seen; it must not become y_hat."""
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional

    class Bypass(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.entropy_bottleneck = EntropyBottleneck(4)
            self.gaussian_conditional = GaussianConditional(None)

        def forward(self, x):
            z_hat, z_lik = self.entropy_bottleneck(x[:, :, ::4, ::4].repeat(1, 2, 1, 1)[:, :4])
            y_lik = torch.full_like(
                x, 0.5
            )  # a likelihood computed by hand, outside the entropy model
            return {"x_hat": x, "likelihoods": {"y": y_lik, "z": z_lik}}

    class Codec:
        net = Bypass().eval()

        def forward(self, x):
            return self.net(x)

    with pytest.raises(RuntimeError, match="never evaluated"):
        latent_features(Codec(), torch.rand(1, 3, 16, 16))
