"""The codec registry: every codec codes real bytes; quality orders fidelity; proxies give gradients."""

import dataclasses

import pytest
import torch

from advcompress.codecs import Bitstream, make_codec, registered_codecs
from advcompress.codecs.learned import ARCHITECTURES, quantization_proxy
from advcompress.metrics import psnr_db

CLASSIC_QUALITIES = {
    "jpeg": [10, 50, 90],
    "webp": [10, 50, 90],
    "avif": [10, 50, 90],
    "heif": [10, 50, 90],
    "jpeg2000": [80, 20, 5],  # compression ratios: smaller ratio, higher fidelity
}


def small_widths(name):
    return {k: {"N": 16, "M": 24}.get(k, None) for k in ARCHITECTURES[name].widths_keys if k in ("N", "M")}


def test_registry_lists_learned_and_classic():
    assert set(CLASSIC_QUALITIES) == set(registered_codecs("classic"))
    assert {"bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018", "cheng2020-attn",
            "mbt2018-mean-vbr"} <= set(registered_codecs("learned"))


def test_catalog_lists_every_registered_codec_with_its_facts():
    """Planning reads the torch-free catalog: it must name exactly what the registry builds."""
    from advcompress.codecs.catalog import CATALOG
    from advcompress.codecs.registry import codec_entry

    assert set(registered_codecs()) == set(CATALOG)
    for name, facts in CATALOG.items():
        assert codec_entry(name).family == facts.family, name
        if facts.family == "learned":
            assert ARCHITECTURES[name].variable_rate == facts.variable_rate, name


def test_registering_a_codec_missing_from_the_catalog_fails():
    from advcompress.codecs.catalog import check_registration
    from advcompress.codecs.registry import register_codec

    with pytest.raises(ValueError, match="catalog"):
        register_codec("my-codec", "classic")(lambda quality: None)
    with pytest.raises(ValueError, match="catalog"):  # stale facts: the VBR model is variable-rate
        check_registration("mbt2018-mean-vbr", "learned", variable_rate=False)
    check_registration("mbt2018-mean-vbr", "learned", variable_rate=True)


def test_unknown_codec_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered: .*jpeg"):
        make_codec("nope", 1)


@pytest.mark.parametrize("name", sorted(CLASSIC_QUALITIES))
def test_classic_roundtrip_and_psnr_increases_with_quality(name, photos):
    psnrs = []
    for q in CLASSIC_QUALITIES[name]:
        codec = make_codec(name, q)
        x_hat, bs = codec.roundtrip(photos[0])
        assert x_hat.shape == photos[0].shape and 0 <= x_hat.min() and x_hat.max() <= 1
        assert bs.nbytes > 0 and bs.bpp() == pytest.approx(8 * bs.nbytes / 64**2)
        psnrs.append(psnr_db(x_hat, photos[0]).item())
    assert psnrs == sorted(psnrs) and psnrs[-1] > psnrs[0] + 3, psnrs


def test_jpeg2000_codes_with_pillows_defaults_apart_from_the_rate(photos):
    """The paper codes JPEG 2000 with Pillow and sets only the quality layers: the reversible 5/3
    wavelet (Pillow's default), not the 9/7 one `irreversible=True` selects."""
    import io

    from advcompress.codecs.classic import to_pil

    codec = make_codec("jpeg2000", 30)
    assert codec.save_kwargs() == {"quality_mode": "rates", "quality_layers": [30.0]}
    data = codec.compress(photos[0]).strings[0]
    buf = io.BytesIO()
    to_pil(photos[0]).save(buf, "JPEG2000", quality_mode="rates", quality_layers=[30.0])
    assert data == buf.getvalue()
    # The codestream's COD segment: the last SPcod byte names the wavelet (1 = 5/3 reversible, 0 = 9/7).
    cod = data.find(b"\xff\x52")
    assert cod > 0 and data[cod + 13] == 1


@pytest.mark.parametrize("name", ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018",
                                  "cheng2020-anchor", "cheng2020-attn", "mbt2018-mean-vbr"])
def test_learned_roundtrip_is_deterministic_and_serialises(name, photos):
    torch.manual_seed(0)
    codec = make_codec(name, 3, weights="untrained", widths=small_widths(name))
    x = photos[0]
    bs = codec.compress(x)
    again = Bitstream.from_bytes(bs.to_bytes())
    assert again.strings == bs.strings and again.shape == bs.shape and again.image_size == (64, 64)
    a, b = codec.decompress(bs), codec.decompress(again)
    assert a.shape == x.shape and torch.equal(a, b)
    assert codec.compress(x).strings == bs.strings


def _input_gradient(codec, x, proxy):
    """d(rate + sum x_hat)/dx through `codec.forward(x, proxy)` (zeros where no path reaches x)."""
    x = x.clone().requires_grad_(True)
    out = codec.forward(x, proxy=proxy)
    rate = sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
    (rate + out["x_hat"].sum()).backward()
    return x.grad if x.grad is not None else torch.zeros_like(x)


@pytest.mark.parametrize("proxy", ["ste", "noise", "hybrid"])
def test_proxy_gives_input_gradients_that_eval_rounding_blocks(proxy, photos):
    torch.manual_seed(0)
    codec = make_codec("bmshj2018-hyperprior", 3, weights="untrained", widths={"N": 16, "M": 24})
    x = photos[0]
    through = _input_gradient(codec, x, proxy)
    assert torch.count_nonzero(through) > 0.5 * through.numel()  # the proxy reaches (nearly) every pixel
    # Eval mode rounds y and z with torch.round, whose derivative is 0: neither the rate nor the
    # reconstruction passes any gradient to the input. Measured after the proxy run, so a proxy
    # patch left behind (or rounding that does nothing) shows up as a nonzero gradient here.
    blocked = _input_gradient(codec, x, None)
    assert torch.count_nonzero(blocked) == 0, float(blocked.abs().sum())
    if proxy == "ste":  # the forward value of STE is exact rounding
        with torch.no_grad():
            ref = codec.forward(x)["x_hat"]
            assert torch.allclose(codec.forward(x, proxy="ste")["x_hat"], ref)


def _entropy_model_outputs(codec, x, proxy) -> dict:
    """Entropy-model name -> the quantised values its forward returned (y_hat or z_hat)."""
    out, hooks = {}, []
    for name, m in codec.net.named_modules():
        if name in ("entropy_bottleneck", "gaussian_conditional"):
            hooks.append(m.register_forward_hook(lambda _m, _i, o, name=name: out.__setitem__(name, o[0].detach())))
    try:
        with torch.no_grad():
            codec.forward(x, proxy=proxy)
    finally:
        for h in hooks:
            h.remove()
    return out


@pytest.mark.parametrize("name, expected", [
    ("bmshj2018-hyperprior", {"entropy_bottleneck": "ste", "gaussian_conditional": "noise"}),
    ("mbt2018", {"entropy_bottleneck": "ste", "gaussian_conditional": "noise"}),
    ("bmshj2018-factorized", {"entropy_bottleneck": "noise"}),  # its bottleneck codes the main latent
])
def test_hybrid_proxy_adds_noise_to_the_latent_and_rounds_the_hyperlatent(name, expected, photos):
    """hybrid: the hyperlatent z keeps eval rounding's values (straight-through), the latent y gets
    U(-0.5, 0.5) noise instead of rounding; with no hyperprior the one latent gets noise."""
    from advcompress.codecs.learned import entropy_model_proxies

    torch.manual_seed(0)
    codec = make_codec(name, 3, weights="untrained", widths={"N": 16, "M": 24})
    assert entropy_model_proxies(codec.net, "hybrid") == expected
    x = photos[0]
    rounded = _entropy_model_outputs(codec, x, None)
    hybrid = _entropy_model_outputs(codec, x, "hybrid")
    assert set(rounded) == set(hybrid) == set(expected)
    for em, kind in expected.items():
        same = torch.isclose(hybrid[em], rounded[em], atol=1e-6).float().mean().item()
        if kind == "ste":
            assert same == 1.0, (em, same)
        else:  # noise: values off the rounding grid, within half a step of the unrounded latent
            assert same < 0.05, (em, same)
            assert (hybrid[em] - rounded[em]).abs().max() <= 1.0 + 1e-5


def test_proxy_context_restores_rounding():
    codec = make_codec("bmshj2018-factorized", 3, weights="untrained", widths={"N": 16, "M": 24})
    with quantization_proxy(codec.net, "noise"):
        pass
    eb = codec.net.entropy_bottleneck
    assert "quantize" not in vars(eb)  # the instance patch is gone, the class method is back
    with pytest.raises(ValueError, match="unknown quantization proxy"):
        with quantization_proxy(codec.net, "magic"):
            pass


# That load_learned_codec finds the project architectures in a fresh process (train-lic builds codecs
# before anything touched the registry) is checked in the fresh process of tests/test_lint.py's
# test_the_codec_registry_imports_no_study: one interpreter's imports instead of two.


def test_learned_and_online_codecs_are_modules_of_their_networks():
    """`to`, `train`, `eval`, `parameters` and forward hooks are torch's: the codec is an nn.Module
    whose submodule is its network (and, online, the base plus its private copy, which `to` and
    `eval` move along but `parameters` leaves out: it is re-derived from the base)."""
    codec = make_codec("bmshj2018-hyperprior", 3, weights="untrained", widths={"N": 16, "M": 24})
    assert isinstance(codec, torch.nn.Module)
    assert [id(p) for p in codec.parameters()] == [id(p) for p in codec.net.parameters()]
    assert codec.train() is codec and codec.net.training
    assert codec.eval() is codec and not any(m.training for m in codec.net.modules())
    seen = []
    handle = codec.register_forward_hook(lambda mod, args, out: seen.append(out["x_hat"].shape))
    codec(torch.rand(1, 3, 64, 48))
    handle.remove()
    assert seen == [torch.Size([1, 3, 64, 48])]  # the hook saw the cropped reconstruction

    online = make_codec("bmshj2018-hyperprior+online", 3, weights="untrained", widths={"N": 16, "M": 24})
    assert isinstance(online, torch.nn.Module)
    assert [id(p) for p in online.parameters()] == [id(p) for p in online.base.net.parameters()]
    online.train()
    assert online.eval() is online
    assert not online.base.training and not online._shadow.net.training
    online._cache = (torch.zeros(1), torch.zeros(1))
    assert online.to(torch.float64) is online and online._cache is None
    assert next(online._shadow.parameters()).dtype == torch.float64
    online._cache = (torch.zeros(1), torch.zeros(1))
    assert online.float() is online and online._cache is None  # every move, not only to()


@pytest.mark.parametrize("inverse", [False, True])
def test_matmul_gdn_computes_compressais_gdn(inverse):
    """Same value and gradients as CompressAI's GDN, on a non-symmetric gamma (so a transposed
    matrix would show) and away from the initial beta."""
    from compressai.layers import GDN

    from advcompress.codecs.learned import MatmulGDN

    torch.manual_seed(0)
    ref = GDN(6, inverse=inverse)
    with torch.no_grad():
        ref.gamma.copy_(ref.gamma_reparam.init(torch.rand(6, 6) * 0.5))
        ref.beta.copy_(ref.beta_reparam.init(torch.rand(6) + 0.5))
    new = MatmulGDN(6, inverse=inverse)
    new.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 6, 5, 7)
    outs, grads = [], []
    for layer in (ref, new):
        xi = x.clone().requires_grad_(True)
        out = layer(xi)
        out.pow(2).sum().backward()
        outs.append(out.detach())
        grads.append([xi.grad, layer.gamma.grad, layer.beta.grad])
    torch.testing.assert_close(outs[1], outs[0])
    for g_new, g_ref in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(g_new, g_ref)


def test_learned_codecs_use_matmul_gdn_and_keep_gdn_subclasses():
    from compressai.layers import GDN

    from advcompress.codecs.learned import MatmulGDN

    hyper = make_codec("bmshj2018-hyperprior", 1, weights="untrained", widths={"N": 8, "M": 8})
    kinds = [type(m) for m in hyper.net.modules() if isinstance(m, GDN)]
    assert kinds and set(kinds) == {MatmulGDN}
    song = make_codec("song2021", 40, weights="untrained", widths={"N": 8, "M": 8, "prior_nc": 4, "sft_hidden": 4})
    assert {type(m).__name__ for m in song.net.modules() if isinstance(m, GDN)} == {"GDN1"}


def test_codecs_run_in_their_architectures_memory_format_with_the_same_values(tmp_path):
    """Cai2022 computes in channels_last (its full-resolution dense blocks run faster so), the
    others contiguous; the layout moves no value beyond float rounding, and a checkpoint saved
    from channels_last weights loads into either layout."""
    from advcompress.codecs.learned import load_learned_codec, save_checkpoint

    widths = {"N": 16, "M": 16, "enh_nf": 8, "enh_gc": 8, "couplings": 1, "inn_hidden": 8, "iat_hidden": 8}
    torch.manual_seed(0)
    cai = make_codec("cai2022", 50, weights="untrained", widths=widths)
    assert ARCHITECTURES["cai2022"].memory_format is torch.channels_last
    convs = [m.weight for m in cai.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    hyper = make_codec("bmshj2018-hyperprior", 1, weights="untrained", widths={"N": 8, "M": 8})
    assert all(m.weight.is_contiguous() for m in hyper.net.modules() if isinstance(m, torch.nn.Conv2d))

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    cai.eval()
    save_checkpoint(cai, tmp_path / "cai.pt", {})
    plain = load_learned_codec("cai2022", 50, checkpoint=str(tmp_path / "cai.pt"), widths=widths)
    plain.net.to(memory_format=torch.contiguous_format)
    plain.arch = dataclasses.replace(plain.arch, memory_format=torch.contiguous_format)
    assert all(w.is_contiguous() for w in (m.weight for m in plain.net.modules() if isinstance(m, torch.nn.Conv2d)))
    torch.manual_seed(1)
    ref = plain(x, proxy="noise")
    torch.manual_seed(1)
    out_cl = cai(x, proxy="noise")
    torch.testing.assert_close(out_cl["x_hat"], ref["x_hat"], atol=1e-5, rtol=1e-4)
    for k in ref["likelihoods"]:
        torch.testing.assert_close(out_cl["likelihoods"][k], ref["likelihoods"][k], atol=1e-6, rtol=1e-4)
