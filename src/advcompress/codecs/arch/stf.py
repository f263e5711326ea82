"""Zou2022 STF: symmetrical window-attention transformer with a channel-wise context model.

R. Zou, C. Song, Z. Zhang, "The devil is in the details: window-based attention for image
compression", CVPR 2022; official code https://github.com/Googolxx/STF (model "stf").

The analysis transform is a Swin-style pyramid (patch embedding, then stages of (shifted)
window attention joined by patch merging); the synthesis transform mirrors it with patch
splitting (linear + pixel shuffle). The entropy model is Minnen & Singh's channel-wise
autoregressive model (ChARM): a mean/scale hyperprior, latent slices coded in sequence, each
conditioned on the hyperprior and on earlier slices, plus a latent residual prediction (LRP);
it is `_charm.ChannelwiseContextModel`, shared with TCM.

Module and parameter names follow the official code so that an official checkpoint loads with
`strict=True` after `official_key_map` (which only strips `module.` and renames the entropy
bottleneck's pre-1.2 parameter names). This is an independent implementation, not a copy.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.layers import conv3x3, subpel_conv3x3

from advcompress.codecs.arch._charm import ChannelwiseContextModel
from advcompress.codecs.learned import (
    LAMBDAS,
    Architecture,
    loader_from_file_widths,
    register_architecture,
)
from advcompress.device import to_python

# -- windows ------------------------------------------------------------------------------------


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop a whole residual branch per sample (a training regulariser)."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


def to_windows(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, ws * ws, C), windows in row-major order within each image."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def from_windows(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of `to_windows`."""
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(ws: int) -> torch.Tensor:
    """Index into the (2ws-1)^2 bias table for every (query, key) pair of a window.

    Offsets (dh, dw) in [-(ws-1), ws-1] are shifted to be non-negative and flattened row-major,
    which is the table layout of Swin and of the official STF checkpoints.
    """
    rows, cols = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])  # 2, ws*ws
    rel = coords[:, :, None] - coords[:, None, :] + (ws - 1)
    return rel[0] * (2 * ws - 1) + rel[1]


def shift_mask(h: int, w: int, ws: int, shift: int, device) -> torch.Tensor:
    """Additive mask (nW, ws*ws, ws*ws) that keeps shifted windows from mixing distant regions.

    After the cyclic shift, a window at the bottom/right edge holds pixels from up to three
    bands per axis; pairs from different bands get -100 (as the official code), others 0.
    """

    def bands(n: int) -> torch.Tensor:
        idx = torch.arange(n, device=device)
        return (idx >= n - ws).long() + (idx >= n - shift).long()

    label = bands(h)[:, None] * 3 + bands(w)[None, :]
    lw = to_windows(label[None, :, :, None].float(), ws).squeeze(-1)  # nW, ws*ws
    different = lw[:, :, None] != lw[:, None, :]
    return torch.zeros(different.shape, device=device).masked_fill(different, -100.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative-position bias."""

    def __init__(self, dim: int, window_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # Persistent, because the official checkpoints carry it.
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).permute(
            2, 0, 3, 1, 4
        )
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)  # 1, heads, n, n
        if mask is not None:  # mask: nW, n, n; windows are ordered image-major
            bias = (bias + mask.unsqueeze(1)).repeat(b // mask.shape[0], 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SwinTransformerBlock(nn.Module):
    """Pre-norm (shifted) window attention + MLP, both residual, on (B, H*W, C) tokens."""

    def __init__(self, dim, num_heads, window_size, shift, mlp_ratio=4.0, drop_path_rate=0.0):
        super().__init__()
        if not 0 <= shift < window_size:
            raise ValueError("shift must be in [0, window_size)")
        self.window_size, self.shift, self.drop_path_rate = window_size, shift, drop_path_rate
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int, mask: torch.Tensor | None) -> torch.Tensor:
        b, _, c = x.shape
        ws, s = self.window_size, self.shift
        t = self.norm1(x).view(b, h, w, c)
        # Zero-pad after the norm to whole windows, as the official code does.
        t = F.pad(t, (0, 0, 0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
        hp, wp = t.shape[1:3]
        if s:
            t = torch.roll(t, (-s, -s), dims=(1, 2))
        t = from_windows(self.attn(to_windows(t, ws), mask if s else None), ws, hp, wp)
        if s:
            t = torch.roll(t, (s, s), dims=(1, 2))
        t = t[:, :h, :w, :].reshape(b, h * w, c)
        x = x + drop_path(t, self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)


class PatchMerging(nn.Module):
    """Halve the resolution: concatenate each 2x2 neighbourhood (4C) and project to 2C."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x, h, w):
        b, _, c = x.shape
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        # Order (even row, even col), (odd, even), (even, odd), (odd, odd): the official layout.
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        h, w = (h + 1) // 2, (w + 1) // 2
        return self.reduction(self.norm(x.view(b, h * w, 4 * c))), h, w


class PatchSplit(nn.Module):
    """Double the resolution: project C to 2C, then pixel-shuffle to C/2 channels."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.reduction = nn.Linear(dim, 2 * dim, bias=False)

    def forward(self, x, h, w):
        b, n, c = x.shape
        x = self.reduction(self.norm(x)).transpose(1, 2).reshape(b, 2 * c, h, w)
        x = F.pixel_shuffle(x, 2)
        return x.flatten(2).transpose(1, 2), 2 * h, 2 * w


class Stage(nn.Module):
    """A run of blocks alternating plain and shifted windows, then an optional resampler."""

    def __init__(self, dim, depth, num_heads, window_size, mlp_ratio, drop_rates, resample=None):
        super().__init__()
        self.window_size = window_size
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim, num_heads, window_size, window_size // 2 if i % 2 else 0, mlp_ratio, drop_rates[i]
            )
            for i in range(depth)
        )
        self.downsample = resample(dim) if resample is not None else None

    def forward(self, x, h, w):
        ws = self.window_size
        hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
        mask = shift_mask(hp, wp, ws, ws // 2, x.device) if len(self.blocks) > 1 else None
        for blk in self.blocks:
            x = blk(x, h, w, mask)
        if self.downsample is not None:
            return self.downsample(x, h, w)
        return x, h, w


class PatchEmbed(nn.Module):
    """Non-overlapping patch x patch convolution, then LayerNorm over channels."""

    def __init__(self, patch_size: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        p = self.patch_size
        x = self.proj(F.pad(x, (0, (p - x.shape[-1] % p) % p, 0, (p - x.shape[-2] % p) % p)))
        return self.norm(x.flatten(2).transpose(1, 2)), x.shape[-2], x.shape[-1]


# -- the model ----------------------------------------------------------------------------------


class STF(ChannelwiseContextModel):
    """Zou2022 STF. Defaults are the official configuration (embed_dim 48: M = 384, Z = 192).

    The latent y has M = embed_dim * 2**(stages-1) channels at 1/(patch * 2**(stages-1)) of the
    image size (1/16 officially); the hyper latent z has M/2 channels at a further 1/4. The
    official hyper transforms step the width by M/8 per layer (384, 336, 288, 240, 192), which is
    how they are generalised here. `cc_hidden` are the hidden widths of every slice network.
    """

    def __init__(
        self,
        embed_dim: int = 48,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size: int = 4,
        patch_size: int = 2,
        num_slices: int = 12,
        max_support_slices: int = 6,
        cc_hidden=(224, 176, 128, 64),
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.2,
    ):
        super().__init__()
        depths, num_heads, cc_hidden = list(depths), list(num_heads), tuple(cc_hidden)
        stages = len(depths)
        self.embed_dim = embed_dim
        self.M = M = embed_dim * 2 ** (stages - 1)
        Z, step = M // 2, M // 8
        if M % num_slices or M % 8:
            raise ValueError(f"M={M} must be divisible by 8 and by num_slices={num_slices}")

        rates = to_python(torch.linspace(0, drop_path_rate, sum(depths)))
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.layers = nn.ModuleList()
        for i in range(stages):
            self.layers.append(Stage(
                embed_dim * 2**i, depths[i], num_heads[i], window_size, mlp_ratio,
                rates[sum(depths[:i]) : sum(depths[: i + 1])],
                PatchMerging if i < stages - 1 else None,
            ))
        # The synthesis mirrors the analysis (the official code reuses the analysis' drop-path
        # schedule with the reversed depths; so does this one).
        rdepths, rheads = depths[::-1], num_heads[::-1]
        self.syn_layers = nn.ModuleList()
        for i in range(stages):
            self.syn_layers.append(Stage(
                embed_dim * 2 ** (stages - 1 - i), rdepths[i], rheads[i], window_size, mlp_ratio,
                rates[sum(rdepths[:i]) : sum(rdepths[: i + 1])],
                PatchSplit if i < stages - 1 else None,
            ))
        self.end_conv = nn.Sequential(
            nn.Conv2d(embed_dim, embed_dim * patch_size**2, kernel_size=5, padding=2),
            nn.PixelShuffle(patch_size),
            nn.Conv2d(embed_dim, 3, kernel_size=3, padding=1),
        )

        self.h_a = nn.Sequential(
            conv3x3(M, M), nn.GELU(),
            conv3x3(M, M - step), nn.GELU(),
            conv3x3(M - step, M - 2 * step, stride=2), nn.GELU(),
            conv3x3(M - 2 * step, M - 3 * step), nn.GELU(),
            conv3x3(M - 3 * step, Z, stride=2),
        )  # fmt: skip

        def h_s():
            return nn.Sequential(
                conv3x3(Z, Z + step), nn.GELU(),
                subpel_conv3x3(Z + step, Z + 2 * step, 2), nn.GELU(),
                conv3x3(Z + 2 * step, Z + 3 * step), nn.GELU(),
                subpel_conv3x3(Z + 3 * step, M, 2), nn.GELU(),
                conv3x3(M, M),
            )  # fmt: skip

        self.h_mean_s, self.h_scale_s = h_s(), h_s()
        self._init_context_model(M, Z, num_slices, max_support_slices, cc_hidden)

    # -- transforms -------------------------------------------------------------------------
    def g_a(self, x: torch.Tensor) -> torch.Tensor:
        t, h, w = self.patch_embed(x)
        for stage in self.layers:
            t, h, w = stage(t, h, w)
        return t.transpose(1, 2).reshape(x.shape[0], self.M, h, w)

    def g_s(self, y_hat: torch.Tensor) -> torch.Tensor:
        b, _, h, w = y_hat.shape
        t = y_hat.flatten(2).transpose(1, 2)
        for stage in self.syn_layers:
            t, h, w = stage(t, h, w)
        return self.end_conv(t.transpose(1, 2).reshape(b, self.embed_dim, h, w))


# -- official checkpoints -----------------------------------------------------------------------

_OLD_EB = re.compile(r"^(.*entropy_bottleneck\.)_(matrix|bias|factor)(\d+)$")
_OLD_EB_NAMES = {"matrix": "matrices", "bias": "biases", "factor": "factors"}


def official_key_map(state_dict: dict) -> dict:
    """Rename an official STF (or TCM) state dict to this implementation's keys.

    Two differences only: checkpoints trained under `nn.DataParallel` prefix every key with
    `module.`; and CompressAI < 1.2.5 (bundled with the official STF code) named the entropy
    bottleneck's parameters `_matrix0`, `_bias0`, `_factor0`, now `matrices.0`, `biases.0`,
    `factors.0`. A full training checkpoint ({"state_dict": ...}) is unwrapped first.
    """
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    out = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        m = _OLD_EB.match(key)
        if m:
            key = f"{m[1]}{_OLD_EB_NAMES[m[2]]}.{m[3]}"
        out[key] = value
    return out


def _count(state: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m[1] for k in state if (m := rx.match(k))})


def widths_from_state_dict(state: dict) -> dict:
    """Read the configuration back from a (key-mapped) STF state dict."""
    stages = _count(state, r"^layers\.(\d+)\.")
    depths = [_count(state, rf"^layers\.{i}\.blocks\.(\d+)\.") for i in range(stages)]
    heads = [state[f"layers.{i}.blocks.0.attn.relative_position_bias_table"].shape[1] for i in range(stages)]
    ws = int(round(state["layers.0.blocks.0.attn.relative_position_index"].shape[0] ** 0.5))
    cc = [v.shape[0] for k, v in state.items() if re.match(r"^cc_mean_transforms\.0\.\d+\.weight$", k)]
    embed = state["patch_embed.proj.weight"]
    M, S = embed.shape[0] * 2 ** (stages - 1), cc[-1]
    first = state["cc_mean_transforms.0.0.weight"].shape[1]
    later = [state[f"cc_mean_transforms.{i}.0.weight"].shape[1] for i in range(M // S)]
    return {
        "embed_dim": embed.shape[0],
        "depths": depths,
        "num_heads": heads,
        "window_size": ws,
        "patch_size": embed.shape[-1],
        "num_slices": M // S,
        "max_support_slices": (max(later) - first) // S,
        "cc_hidden": cc[:-1],
    }


from_official_state_dict = loader_from_file_widths(STF, official_key_map, widths_from_state_dict)


# Official MSE checkpoints (README of Googolxx/STF), trained with CompressAI's lambdas 1..6.
# They are Google Drive pages: fetch them by hand (or with gdown) and point `checkpoint` at them.
_DRIVE = "https://drive.google.com/file/d/{}/view"
_OFFICIAL_IDS = {
    1: "1ul3RPXxPbvE_2UkdyZZ0r7tM2Kevg-3F",  # lambda 0.0018
    2: "1OFzZoEaofNgsimBuOPHtgOJiGsR_RS-M",  # lambda 0.0035
    3: "1SjhqcKyP3SqVm4yhJQslJ6HgY1E8FcBL",  # lambda 0.0067
    4: "1mupv4vcs8wpNdXCPclXghliikJyYjgj-",  # lambda 0.013
    5: "1rsYgEYuqSYBIA4rfvAjXtVSrjXOzkJlB",  # lambda 0.025
    6: "1cH5cR-0VdsQqCchyN3DO62Sx0WGjv1h8",  # lambda 0.0483
}


def pretrained_url(quality: int) -> str:
    """Google Drive page of the official checkpoint for `quality` (lambda = LAMBDAS[quality])."""
    if quality not in _OFFICIAL_IDS:
        raise ValueError(
            f"STF has official MSE checkpoints for qualities 1..6 only "
            f"(lambda {', '.join(str(LAMBDAS[q]) for q in _OFFICIAL_IDS)}), not {quality}"
        )
    return _DRIVE.format(_OFFICIAL_IDS[quality])


def official_widths(quality: int) -> dict:
    """Every official STF checkpoint has the same configuration (the class defaults)."""
    return {
        "embed_dim": 48,
        "depths": [2, 2, 6, 2],
        "num_heads": [3, 6, 12, 24],
        "window_size": 4,
        "num_slices": 12,
    }


register_architecture(
    Architecture(
        name="stf",
        make=STF,
        official_widths=official_widths,
        variable_rate=False,
        pretrained_url=pretrained_url,
        from_state_dict=from_official_state_dict,
        source="Zou2022: STF, window-attention transformer + channel-wise context (Googolxx/STF)",
        pad_multiple=64,
        widths_keys=(
            "embed_dim", "depths", "num_heads", "window_size", "patch_size", "num_slices",
            "max_support_slices", "cc_hidden", "mlp_ratio", "drop_path_rate",
        ),
    )
)  # fmt: skip
