"""Learned codecs: CompressAI architectures (and the project's own) behind the codec interface.

Why the wrapper: attacks and defenses need one differentiable `forward` whose quantisation proxy
is a named option, while reported numbers must come from a real `compress`/`decompress`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck, EntropyModel, GaussianConditional
from compressai.layers import GDN

from advcompress.codecs.base import Bitstream, CheckpointError, Codec, load_state  # noqa: F401  (re-exported)
from advcompress.codecs.registry import register_codec

PROXIES = ("none", "ste", "noise", "hybrid")

# CompressAI's lambda table for MSE models: loss = R(bpp) + lambda * 255^2 * MSE.
LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.1800}


@dataclass(frozen=True)
class Architecture:
    """How to build one learned algorithm.

    `make(**widths)` builds an untrained network; `official_widths(quality)` gives the widths of
    the published checkpoints. Variable-rate networks take their rate level as keyword `s` in
    forward/compress/decompress; `level(quality)` maps the registry's quality to it (CompressAI's
    VBR models: quality q -> gain index q - 1; quality-map models: their own 0-100 scale).
    """

    name: str
    make: Callable[..., torch.nn.Module]
    official_widths: Callable[[int], dict]
    variable_rate: bool = False
    pretrained_url: Callable[[int], str] | None = None
    from_state_dict: Callable[[dict], torch.nn.Module] | None = None
    source: str = ""
    pad_multiple: int = 64
    widths_keys: tuple[str, ...] = field(default=("N", "M"))
    level: Callable[[int], object] = field(default=lambda quality: quality - 1)
    # The rate-distortion trade-off a quality trains with: loss = R + lambda * 255^2 * MSE.
    rd_lambda: Callable[[int], float] = field(default=lambda quality: lambda_for(quality))
    # The layout its convolutions run fastest in: channels_last only where measured faster
    # (`benchmark/layout.py`; GDN networks are slower in it, Cai2022's full-resolution dense blocks faster).
    memory_format: torch.memory_format = torch.contiguous_format


ARCHITECTURES: dict[str, Architecture] = {}


def architecture(name: str) -> Architecture:
    """The registered architecture `name`, loading the registry's modules first if needed."""
    from advcompress.codecs.registry import codec_entry

    if codec_entry(name).family != "learned" or name not in ARCHITECTURES:
        raise KeyError(f"{name!r} is not a learned architecture")
    return ARCHITECTURES[name]


def register_architecture(arch: Architecture) -> Architecture:
    """Add a learned algorithm to the one codec registry."""
    ARCHITECTURES[arch.name] = arch

    def build(quality, **settings):
        return load_learned_codec(arch.name, int(quality), **settings)

    build.__doc__ = arch.source
    register_codec(arch.name, "learned", variable_rate=arch.variable_rate)(build)
    return arch


def loader_from_file_widths(
    make: Callable[..., torch.nn.Module],
    key_map: Callable[[dict], dict],
    widths_of: Callable[[dict], dict],
) -> Callable[[dict], torch.nn.Module]:
    """An `Architecture.from_state_dict` that builds the widths the file holds, then loads strictly.

    A released file names its widths only through its tensors' shapes, so the loader maps the keys
    once, reads the widths off the mapped shapes and never builds the official width by default.
    """

    def from_state_dict(state: dict) -> torch.nn.Module:
        mapped = key_map(state)
        net = make(**widths_of(mapped))
        net.load_state_dict(mapped, strict=True)
        return net

    return from_state_dict


def qmap_level(quality: int) -> float:
    """Quality-map models (Song2021, Cai2022) take their level as a map value in [0, 1]."""
    return quality / 100.0


def qmap_rd_lambda(quality: int) -> float:
    """The quality-map papers' lambda(q) = 1e-3 * exp(4.382 q), q in [0, 1] the map value.

    Their loss weights 255^2 * MSE as CompressAI's does, so it plugs into rd_loss unchanged.
    """
    return 1e-3 * math.exp(4.382 * qmap_level(quality))


def entropy_model_proxies(net: torch.nn.Module, proxy: str) -> dict[str, str]:
    """Module name -> the stand-in (`ste` or `noise`) `proxy` gives each entropy model of `net`.

    `ste` and `noise` apply to every entropy model. `hybrid` is additive noise on the main latent
    y and straight-through rounding on the hyperlatent z: a GaussianConditional codes y (given side
    information), and any other entropy model beside one codes z; a network with no
    GaussianConditional (the factorized prior) codes its main latent with its EntropyBottleneck,
    which then gets noise.
    """
    if proxy not in PROXIES or proxy == "none":
        raise ValueError(f"unknown quantization proxy {proxy!r}; choose one of {PROXIES}")
    models = {name: m for name, m in net.named_modules() if isinstance(m, EntropyModel)}
    if proxy != "hybrid":
        return dict.fromkeys(models, proxy)
    conditional = any(isinstance(m, GaussianConditional) for m in models.values())
    return {name: "noise" if isinstance(m, GaussianConditional) or not conditional else "ste"
            for name, m in models.items()}


_SAMPLE_GENERATORS: contextvars.ContextVar[list[torch.Generator] | None] = contextvars.ContextVar(
    "sample_generators", default=None)


@contextlib.contextmanager
def per_sample_noise(generators: list[torch.Generator]):
    """Inside the block, proxy noise for batch element b comes from CPU generator b.

    A sample's noise then does not depend on the batch it sits in, so an attack run in chunks of 64
    or one sample at a time draws the same noise (as `ste`, which draws none, already does), and a
    CUDA run draws the same numbers as a CPU run. Without the block, noise comes from the global RNG.
    """
    token = _SAMPLE_GENERATORS.set(list(generators))
    try:
        yield
    finally:
        _SAMPLE_GENERATORS.reset(token)


def _uniform_noise(inputs: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
    """U(-0.5, 0.5) noise shaped like `inputs`, per sample when `per_sample_noise` is active.

    A GaussianConditional quantizes batch-first tensors; an EntropyBottleneck quantizes its input
    reshaped to (C, 1, B*H*W), the batch major within the last axis, so each sample owns a
    contiguous run of it.
    """
    generators = _SAMPLE_GENERATORS.get()
    if generators is None:
        return torch.empty_like(inputs).uniform_(-0.5, 0.5)
    b = len(generators)
    bottleneck = isinstance(module, EntropyBottleneck)
    size = inputs.shape[-1] if bottleneck else inputs.shape[0]
    if size % b or (not bottleneck and size != b):
        raise ValueError(f"per-sample noise for {b} samples, but {type(module).__name__} quantizes a "
                         f"tensor of shape {tuple(inputs.shape)}")
    shape = (*inputs.shape[:-1], size // b) if bottleneck else (1, *inputs.shape[1:])
    draws = [torch.empty(shape, dtype=inputs.dtype).uniform_(-0.5, 0.5, generator=g) for g in generators]
    return torch.cat(draws, dim=-1 if bottleneck else 0).to(inputs.device, non_blocking=True)


@contextlib.contextmanager
def quantization_proxy(net: torch.nn.Module, proxy: str | None):
    """Swap eval-mode rounding for a differentiable proxy inside the block.

    CompressAI's entropy models round with `torch.round` in eval mode, which gives zero gradient
    to the input. `ste` keeps the forward value of rounding and passes the gradient straight
    through; `noise` replaces rounding by additive U(-0.5, 0.5) noise (the training proxy);
    `hybrid` is noise on the latent and STE on the hyperlatent (`entropy_model_proxies`).
    """
    if proxy in (None, "none"):
        yield
        return
    modules = dict(net.named_modules())
    patched = [(modules[name], kind) for name, kind in entropy_model_proxies(net, proxy).items()]
    for m, kind in patched:
        original = m.quantize

        def quantize(inputs, mode, means=None, _original=original, _kind=kind, _m=m):
            if mode != "dequantize":
                return _original(inputs, mode, means)
            if _kind == "noise":
                return inputs + _uniform_noise(inputs, _m)
            centred = inputs - means if means is not None else inputs
            rounded = centred + (torch.round(centred) - centred).detach()
            return rounded + means if means is not None else rounded

        m.quantize = quantize
    try:
        yield
    finally:
        for m, _ in patched:
            del m.quantize


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


class MatmulGDN(GDN):
    """CompressAI's GDN with its 1x1 convolution written as a batched matmul over pixels.

    Same parameters, state dict and result (to float rounding). Why: on a CPU thread oneDNN runs the
    1x1 convolution's backward far below matmul speed, and GDN normalises at the largest feature
    maps, so a training step of the GDN models costs 8-11% less and an attack step up to 9% less
    (benchmark/gdn.py).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma)
        # norm[:, i] = beta[i] + sum_j gamma[i, j] x[:, j]^2, as F.conv2d(x**2, gamma[..., None, None], beta)
        norm = torch.baddbmm(beta.view(1, c, 1).expand(b, c, h * w), gamma.expand(b, c, c), (x * x).reshape(b, c, h * w))
        norm = norm.view(b, c, h, w)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


def use_matmul_gdn(net: torch.nn.Module) -> torch.nn.Module:
    """Every plain CompressAI GDN of `net` computes as `MatmulGDN` (subclasses keep their own forward)."""
    for module in net.modules():
        if type(module) is GDN:
            module.__class__ = MatmulGDN
    return net


class LearnedCodec(Codec, torch.nn.Module):
    """A learned codec is an nn.Module around its network, so `to`, `train`, `eval`, `parameters`
    and hooks are torch's own; `compress`/`decompress` add real coding with padding."""

    family = "learned"
    differentiable = True

    def __init__(self, name: str, quality: int, net: torch.nn.Module, arch: Architecture):
        torch.nn.Module.__init__(self)
        Codec.__init__(self, quality)
        self.name = name
        self.net = use_matmul_gdn(net).to(memory_format=arch.memory_format)
        self.arch = arch
        self.level = arch.level(quality) if arch.variable_rate else None

    # -- differentiable path -------------------------------------------------------------
    def _kw(self) -> dict:
        return {} if self.level is None else {"s": self.level}

    def forward(self, x: torch.Tensor, proxy: str | None = None) -> dict:
        """Reconstruction and likelihoods; `proxy` names the gradient path through rounding."""
        xp, (h, w) = pad_to_multiple(x, self.arch.pad_multiple)
        xp = xp.contiguous(memory_format=self.arch.memory_format)
        with quantization_proxy(self.net, proxy):
            out = self.net(xp, **self._kw())
        out["x_hat"] = out["x_hat"][..., :h, :w]
        return out

    # -- real coding --------------------------------------------------------------------------
    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> Bitstream:
        if x.shape[0] != 1:
            raise ValueError("compress codes one image at a time (batch size 1)")
        xp, (h, w) = pad_to_multiple(x, self.arch.pad_multiple)
        out = self.net.compress(xp, **self._kw())
        strings = [s[0] for s in out["strings"]]
        return Bitstream(strings, tuple(int(v) for v in out["shape"]), (h, w))

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        h, w = bitstream.image_size
        out = self.net.decompress([[s] for s in bitstream.strings], list(bitstream.shape), **self._kw())
        return out["x_hat"][..., :h, :w].clamp(0, 1)

    def update(self) -> None:
        """Rebuild the entropy coder's CDF tables; needed after any change to the weights."""
        self.net.update(force=True)


def lambda_for(quality: int) -> float:
    try:
        return LAMBDAS[int(quality)]
    except KeyError:
        raise ValueError(f"quality {quality} has no lambda; CompressAI's table covers 1..8") from None


def build_net(name: str, quality: int, widths: dict | None = None) -> torch.nn.Module:
    """An untrained network of architecture `name`, at `widths` or at the official widths."""
    arch = architecture(name)
    widths = dict(widths) if widths else arch.official_widths(quality)
    return arch.make(**widths)


def save_checkpoint(codec: LearnedCodec, path, meta: dict) -> None:
    """State dict only (loads with weights_only=True), written atomically."""
    from advcompress.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"state_dict": codec.net.state_dict(), "meta": meta}, tmp)


def load_learned_codec(
    name: str,
    quality: int,
    weights: str = "trained",
    checkpoint: str | None = None,
    widths: dict | None = None,
    device: str | torch.device = "cpu",
    **_ignored,
) -> LearnedCodec:
    """Build the codec for (name, quality) with weights from a checkpoint file.

    `weights="untrained"` is only for tests and training; `trained` and `pretrained` both need
    `checkpoint`: a file this project trained, or an official file the fetch rule placed.
    """
    arch = architecture(name)
    if weights == "untrained":
        net = build_net(name, quality, widths)
    elif weights in ("trained", "pretrained"):
        if checkpoint is None:
            raise CheckpointError(f"{name} q{quality}: weights={weights!r} needs a checkpoint path")
        state = load_state(checkpoint)
        if weights == "pretrained" and arch.from_state_dict is not None:
            net = arch.from_state_dict(state)
        else:
            net = build_net(name, quality, widths)
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise CheckpointError(
                    f"checkpoint {checkpoint} does not fit {name} at widths {widths}: {str(e)[:300]}"
                ) from None
    else:
        raise ValueError(f"weights must be trained, pretrained or untrained, not {weights!r}")
    net.eval()
    codec = LearnedCodec(name, quality, net, arch).to(device)
    codec.update()
    return codec


# -- the CompressAI algorithms ------------------------------------------------------------------


def _compressai_arch(name: str, cls_name: str, source: str, variable_rate: bool = False, keys=("N", "M")):
    from compressai import models
    from compressai.zoo import image, image_vbr

    cls = getattr(models, cls_name)
    zoo = image_vbr if variable_rate else image

    def official(quality: int) -> dict:
        cfg = zoo.cfgs[name] if variable_rate else zoo.cfgs[name][quality]
        return dict(zip(keys, cfg, strict=True))

    def url(quality: int) -> str:
        urls = zoo.model_urls[name]["mse"]
        return urls if variable_rate else urls[quality]

    def from_state_dict(state: dict) -> torch.nn.Module:
        from compressai.zoo.pretrained import load_pretrained

        state = load_pretrained(state)
        if variable_rate:
            return cls.from_state_dict(state, vr_entbttlnck=True)
        return cls.from_state_dict(state)

    register_architecture(
        Architecture(
            name=name,
            make=cls,
            official_widths=official,
            variable_rate=variable_rate,
            pretrained_url=url,
            from_state_dict=from_state_dict,
            source=source,
            widths_keys=keys,
        )
    )


_compressai_arch("bmshj2018-factorized", "FactorizedPrior", "Balle2016: factorized prior (CompressAI)")
_compressai_arch("bmshj2018-hyperprior", "ScaleHyperprior", "Balle2018: scale hyperprior (CompressAI)")
_compressai_arch("mbt2018", "JointAutoregressiveHierarchicalPriors", "Minnen2018: joint autoregressive + hyperprior (CompressAI)")
_compressai_arch("cheng2020-attn", "Cheng2020Attention", "Cheng2020: attention + GMM (CompressAI)", keys=("N",))
_compressai_arch("cheng2020-anchor", "Cheng2020Anchor", "Cheng2020: anchor, residual blocks + GMM (CompressAI)", keys=("N",))
_compressai_arch(
    "mbt2018-mean-vbr",
    "MeanScaleHyperpriorVbr",
    "Variable-rate mean-scale hyperprior, Kamisli et al. 2024 (CompressAI)",
    variable_rate=True,
)


def bits_from_likelihoods(likelihoods: dict) -> torch.Tensor:
    """Estimated bits per image (batch vector) from the entropy model's likelihoods."""
    total = 0.0
    for lik in likelihoods.values():
        total = total + (-torch.log2(lik)).flatten(1).sum(1)
    return total


def estimated_bpp(out: dict, num_pixels: int) -> torch.Tensor:
    """Estimated bits per pixel of each image: the project's one rate function (the training loss,
    CompressAI's, is tested equal to its batch mean in tests/test_train.py)."""
    return bits_from_likelihoods(out["likelihoods"]) / num_pixels

