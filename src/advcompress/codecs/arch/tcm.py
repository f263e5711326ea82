"""Liu2023 TCM: mixed Transformer-CNN transforms with a SWAtten channel-wise context model.

J. Liu, H. Sun, J. Katto, "Learned image compression with mixed Transformer-CNN
architectures", CVPR 2023; official code https://github.com/jmliu206/LIC_TCM (`models/tcm.py`).

The transforms are CompressAI residual blocks (with GDN) interleaved with Transformer-CNN
mixture (TCM) blocks: a 1x1 conv splits 2N channels into a CNN half (residual block) and a
transformer half (Swin block), and a second 1x1 conv fuses them back as a residual. The entropy
model is the channel-wise autoregressive model of Minnen & Singh (hyperprior, slices coded in
sequence, latent residual prediction; `_charm.ChannelwiseContextModel`, shared with STF) whose
mean and scale supports first pass through SWAtten: a channel-squeezed attention block (1x1
conv to 128, CompressAI's attention block with a Swin block as its non-local branch, 1x1 conv
back).

Module and parameter names follow the official code so that an official checkpoint loads with
`strict=True` after `official_key_map`. This is an independent implementation, not a copy.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.layers import (
    AttentionBlock,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv1x1,
    conv3x3,
    subpel_conv3x3,
)

from advcompress.codecs.arch._charm import ChannelwiseContextModel
from advcompress.codecs.arch.stf import (
    drop_path,
    from_windows,
    official_key_map,
    shift_mask,
    to_windows,
)
from advcompress.codecs.learned import Architecture, loader_from_file_widths, register_architecture
from advcompress.device import to_python

__all__ = ["TCM", "official_key_map", "from_official_state_dict"]


class WMSA(nn.Module):
    """Window (type "W") or shifted-window ("SW") multi-head self-attention on (B, H, W, C).

    The relative-position bias is stored as (heads, 2ws-1, 2ws-1), the official layout.
    Feature maps that are not whole windows are zero-padded and cropped back (the official code
    requires whole windows; where it runs, the results are the same).
    """

    def __init__(self, dim: int, head_dim: int, window_size: int, kind: str):
        super().__init__()
        if kind not in ("W", "SW"):
            raise ValueError("kind must be 'W' or 'SW'")
        self.heads, self.head_dim, self.window_size, self.kind = dim // head_dim, head_dim, window_size, kind
        self.embedding_layer = nn.Linear(dim, 3 * dim)
        self.relative_position_params = nn.Parameter(
            torch.zeros(self.heads, 2 * window_size - 1, 2 * window_size - 1)
        )
        nn.init.trunc_normal_(self.relative_position_params, std=0.02)
        self.linear = nn.Linear(dim, dim)
        ws = window_size
        rows, cols = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
        coords = torch.stack([rows.flatten(), cols.flatten()], -1)
        rel = coords[:, None, :] - coords[None, :, :] + ws - 1  # (ws*ws, ws*ws, 2)
        self.register_buffer("_rel", rel, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        ws, s = self.window_size, self.window_size // 2
        x = F.pad(x, (0, 0, 0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
        hp, wp = x.shape[1:3]
        if self.kind == "SW":
            x = torch.roll(x, (-s, -s), dims=(1, 2))
        t = to_windows(x, ws)  # (B*nW, n, C)
        n = t.shape[1]
        q, k, v = self.embedding_layer(t).view(-1, n, 3 * self.heads, self.head_dim).transpose(1, 2).chunk(3, 1)
        bias = self.relative_position_params[:, self._rel[..., 0], self._rel[..., 1]].unsqueeze(0)
        if self.kind == "SW":
            mask = shift_mask(hp, wp, ws, s, x.device)
            mask = torch.zeros_like(mask).masked_fill(mask < 0, float("-inf"))
            bias = (bias + mask.unsqueeze(1)).repeat(b, 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        out = self.linear(out.transpose(1, 2).reshape(-1, n, c))
        out = from_windows(out, ws, hp, wp)
        if self.kind == "SW":
            out = torch.roll(out, (s, s), dims=(1, 2))
        return out[:, :h, :w, :]


class Block(nn.Module):
    """Pre-norm Swin block on (B, H, W, C): (S)W-MSA and a 4x MLP, both residual."""

    def __init__(self, dim, head_dim, window_size, drop_path_rate=0.0, kind="W"):
        super().__init__()
        self.drop_path_rate = drop_path_rate
        self.ln1 = nn.LayerNorm(dim)
        self.msa = WMSA(dim, head_dim, window_size, kind)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + drop_path(self.msa(self.ln1(x)), self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.ln2(x)), self.drop_path_rate, self.training)


class ConvTransBlock(nn.Module):
    """The TCM block: split 2N channels into a CNN and a transformer path, fuse, add."""

    def __init__(self, conv_dim, trans_dim, head_dim, window_size, drop_path_rate, kind="W"):
        super().__init__()
        self.conv_dim, self.trans_dim = conv_dim, trans_dim
        self.trans_block = Block(trans_dim, head_dim, window_size, drop_path_rate, kind)
        self.conv1_1 = nn.Conv2d(conv_dim + trans_dim, conv_dim + trans_dim, 1)
        self.conv1_2 = nn.Conv2d(conv_dim + trans_dim, conv_dim + trans_dim, 1)
        self.conv_block = ResidualBlock(conv_dim, conv_dim)

    def forward(self, x):
        conv_x, trans_x = torch.split(self.conv1_1(x), (self.conv_dim, self.trans_dim), dim=1)
        # The residual block already adds its input; the official block adds it once more.
        conv_x = self.conv_block(conv_x) + conv_x
        trans_x = self.trans_block(trans_x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.conv1_2(torch.cat([conv_x, trans_x], dim=1))


class SwinBlock(nn.Module):
    """A plain-window block then a shifted-window block, on NCHW maps."""

    def __init__(self, dim, head_dim, window_size, drop_path_rate=0.0):
        super().__init__()
        self.block_1 = Block(dim, head_dim, window_size, drop_path_rate, "W")
        self.block_2 = Block(dim, head_dim, window_size, drop_path_rate, "SW")

    def forward(self, x):
        return self.block_2(self.block_1(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)


class SWAtten(AttentionBlock):
    """CompressAI's attention block at a squeezed width, with a Swin block as non-local branch.

    The 1x1 convs squeeze the (large) context support to `inter_dim` channels first, which is
    what keeps the per-slice attention cheap.
    """

    def __init__(self, dim: int, head_dim: int, window_size: int, inter_dim: int = 128):
        super().__init__(N=inter_dim)
        self.non_local_block = SwinBlock(inter_dim, head_dim, window_size)
        self.in_conv = conv1x1(dim, inter_dim)
        self.out_conv = conv1x1(inter_dim, dim)

    def forward(self, x):
        x = self.in_conv(x)
        out = self.conv_a(x) * torch.sigmoid(self.conv_b(self.non_local_block(x))) + x
        return self.out_conv(out)


class TCM(ChannelwiseContextModel):
    """Liu2023 TCM. Defaults are the official large model (N = 128, M = 320); small is N = 64.

    `config[i]` counts the TCM blocks of the 3 analysis and 3 synthesis stages, `head_dim[i]`
    their attention head width; the hyper transforms use `config[0]` / `config[3]` blocks with
    `hyper_head_dim` and `hyper_window` (official: 32 and 4). `Z` is the hyper latent's width
    (192 officially), `atten_inter`/`atten_head_dim` configure SWAtten (128 / 16), `cc_hidden`
    the slice networks (224, 128). The official code hard-codes 320 and 192 in the hyper and
    context networks; here they follow M and Z, which is the same at the official widths.
    """

    def __init__(
        self,
        N: int = 128,
        M: int = 320,
        config=(2, 2, 2, 2, 2, 2),
        head_dim=(8, 16, 32, 32, 16, 8),
        window_size: int = 8,
        Z: int = 192,
        hyper_head_dim: int = 32,
        hyper_window: int = 4,
        num_slices: int = 5,
        max_support_slices: int = 5,
        atten_inter: int = 128,
        atten_head_dim: int = 16,
        cc_hidden=(224, 128),
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        config, head_dim, cc_hidden = list(config), list(head_dim), tuple(cc_hidden)
        if M % num_slices:
            raise ValueError(f"M={M} must be divisible by num_slices={num_slices}")
        self.N, self.M = N, M
        S = M // num_slices
        rates = to_python(torch.linspace(0, drop_path_rate, sum(config)))

        def tcm_blocks(stage, hd=None, ws=None, rate=True):
            start = sum(config[:stage])
            return [
                ConvTransBlock(
                    N, N, hd or head_dim[stage], ws or window_size,
                    rates[start + i] if rate else 0.0, "SW" if i % 2 else "W",
                )
                for i in range(config[stage])
            ]  # fmt: skip

        self.g_a = nn.Sequential(
            ResidualBlockWithStride(3, 2 * N, stride=2),
            *tcm_blocks(0), ResidualBlockWithStride(2 * N, 2 * N, stride=2),
            *tcm_blocks(1), ResidualBlockWithStride(2 * N, 2 * N, stride=2),
            *tcm_blocks(2), conv3x3(2 * N, M, stride=2),
        )  # fmt: skip
        self.g_s = nn.Sequential(
            ResidualBlockUpsample(M, 2 * N, 2),
            *tcm_blocks(3), ResidualBlockUpsample(2 * N, 2 * N, 2),
            *tcm_blocks(4), ResidualBlockUpsample(2 * N, 2 * N, 2),
            *tcm_blocks(5), subpel_conv3x3(2 * N, 3, 2),
        )  # fmt: skip
        self.h_a = nn.Sequential(
            ResidualBlockWithStride(M, 2 * N, 2),
            *tcm_blocks(0, hyper_head_dim, hyper_window, rate=False),
            conv3x3(2 * N, Z, stride=2),
        )

        def h_s():
            return nn.Sequential(
                ResidualBlockUpsample(Z, 2 * N, 2),
                *tcm_blocks(3, hyper_head_dim, hyper_window, rate=False),
                subpel_conv3x3(2 * N, M, 2),
            )

        self.h_mean_s, self.h_scale_s = h_s(), h_s()
        k = max_support_slices

        def atten(i):
            return nn.Sequential(SWAtten(M + S * min(i, k), atten_head_dim, window_size, atten_inter))

        self.atten_mean = nn.ModuleList(atten(i) for i in range(num_slices))
        self.atten_scale = nn.ModuleList(atten(i) for i in range(num_slices))
        self._init_context_model(M, Z, num_slices, max_support_slices, cc_hidden)

    def _supports(self, i, mean_support, scale_support):
        """SWAtten on slice i's supports; the attended mean support also feeds the LRP."""
        return self.atten_mean[i](mean_support), self.atten_scale[i](scale_support)


# -- official checkpoints -----------------------------------------------------------------------


def _tcm_indices(state: dict, prefix: str) -> list[int]:
    rx = re.compile(rf"^{prefix}\.(\d+)\.")
    return sorted({int(m[1]) for k in state if (m := rx.match(k))})


def widths_from_state_dict(state: dict) -> dict:
    """Read the configuration back from a (key-mapped) TCM state dict."""
    N = state["g_a.0.conv1.weight"].shape[0] // 2
    M = state["h_a.0.conv1.weight"].shape[1]

    def stages(prefix):  # TCM-block runs between the resampling layers of g_a / g_s
        runs, run = [], []
        for i in _tcm_indices(state, prefix)[1:]:
            key = f"{prefix}.{i}.trans_block.msa.relative_position_params"
            if key in state:
                run.append(state[key])
            else:
                runs.append(run)
                run = []
        return runs

    runs = stages("g_a") + stages("g_s")
    hyper = state["h_a.1.trans_block.msa.relative_position_params"]
    atten = state["atten_mean.0.0.non_local_block.block_1.msa.relative_position_params"]
    cc = [v.shape[0] for k, v in state.items() if re.match(r"^cc_mean_transforms\.0\.\d+\.weight$", k)]
    num_slices = len(_tcm_indices(state, "cc_mean_transforms"))
    S = cc[-1]
    later = [state[f"cc_mean_transforms.{i}.0.weight"].shape[1] for i in range(num_slices)]
    return {
        "N": N,
        "M": M,
        "config": [len(r) for r in runs],
        "head_dim": [N // r[0].shape[0] for r in runs],
        "window_size": (runs[0][0].shape[-1] + 1) // 2,
        "Z": state["entropy_bottleneck.quantiles"].shape[0],
        "hyper_head_dim": N // hyper.shape[0],
        "hyper_window": (hyper.shape[-1] + 1) // 2,
        "num_slices": num_slices,
        "max_support_slices": (max(later) - M) // S,
        "atten_inter": state["atten_mean.0.0.in_conv.weight"].shape[0],
        "atten_head_dim": state["atten_mean.0.0.in_conv.weight"].shape[0] // atten.shape[0],
        "cc_hidden": cc[:-1],
    }


from_official_state_dict = loader_from_file_widths(TCM, official_key_map, widths_from_state_dict)


# Official MSE checkpoints (README of jmliu206/LIC_TCM), N = 64 for lambda 0.0025 ... 0.05.
# Google Drive pages: fetch by hand (or with gdown) and point `checkpoint` at them.
_DRIVE = "https://drive.google.com/file/d/{}/view"
_OFFICIAL_IDS = {
    1: "1zpkW_MCkUWl8nRUlza0L7Fk7dXlXciZd",  # N=64, lambda 0.0025 (CompressAI's q1 is 0.0018)
    2: "1x2rfIQAv8RsjM3zEByDdOZJtEcPU5XZT",  # N=64, lambda 0.0035
    3: "17THA1IiPStSO6jG4h5clwkw0ySzgLZID",  # N=64, lambda 0.0067
    4: "1UbfQFsrr-Z6SrvZvpX4p1QPta5FCORZ5",  # N=64, lambda 0.013
    5: "1rc4E2Rke1Jd8UnLq73NaXbfAdcBGGPKg",  # N=64, lambda 0.025
    6: "1Quz6_jGJyaG6LMUbT4JuOhhQWxJN26Kh",  # N=64, lambda 0.05 (CompressAI's q6 is 0.0483)
}
# The large model (N = 128) has one official checkpoint, lambda 0.05.
LARGE_LAMBDA_005_URL = _DRIVE.format("1TK-CPiD2QwtWJqZoT_OyCtnxdQ7UNP56")


def pretrained_url(quality: int) -> str:
    """Google Drive page of the official N = 64 checkpoint nearest to quality's lambda."""
    if quality not in _OFFICIAL_IDS:
        raise ValueError(f"TCM has official MSE checkpoints for qualities 1..6 only, not {quality}")
    return _DRIVE.format(_OFFICIAL_IDS[quality])


def official_widths(quality: int) -> dict:
    """The released rate ladder is the small model (N = 64, M = 320) at every quality.

    The large model (N = 128) has one released checkpoint only; select it with widths {"N": 128}.
    """
    return {"N": 64, "M": 320}


register_architecture(
    Architecture(
        name="tcm",
        make=TCM,
        official_widths=official_widths,
        variable_rate=False,
        pretrained_url=pretrained_url,
        from_state_dict=from_official_state_dict,
        source="Liu2023: TCM, mixed Transformer-CNN + SWAtten channel context (jmliu206/LIC_TCM)",
        pad_multiple=64,
        widths_keys=(
            "N", "M", "config", "head_dim", "window_size", "Z", "hyper_head_dim", "hyper_window",
            "num_slices", "max_support_slices", "atten_inter", "atten_head_dim", "cc_hidden",
            "drop_path_rate",
        ),
    )
)  # fmt: skip
