"""Write stf_state_dict.json: the official STF state dict ({key: shape}), transcribed by hand.

This is NOT generated from advcompress' model. It spells out, in plain Python without torch,
the module tree of `SymmetricalTransFormer` in Googolxx/STF (compressai/models/stf.py, commit
0adbd29) at its defaults (embed_dim 48, depths [2,2,6,2], heads [3,6,12,24], window 4,
12 slices), with the parameter and persistent-buffer names of the CompressAI version bundled
there (entropy bottleneck `_matrix{i}`/`_bias{i}`/`_factor{i}`, filters (3,3,3,3)). Buffers that
`update()` resizes are listed at their construction shape (empty). Rerun with
`python tests/reference/stf_transcribe.py`.
"""

import json
from pathlib import Path

sd: dict[str, list[int]] = {}


def linear(name, cin, cout, bias=True):
    sd[f"{name}.weight"] = [cout, cin]
    if bias:
        sd[f"{name}.bias"] = [cout]


def layernorm(name, c):
    sd[f"{name}.weight"] = [c]
    sd[f"{name}.bias"] = [c]


def conv(name, cin, cout, k):
    sd[f"{name}.weight"] = [cout, cin, k, k]
    sd[f"{name}.bias"] = [cout]


def swin_block(name, dim, heads, ws=4):
    layernorm(f"{name}.norm1", dim)
    sd[f"{name}.attn.relative_position_bias_table"] = [(2 * ws - 1) * (2 * ws - 1), heads]
    sd[f"{name}.attn.relative_position_index"] = [ws * ws, ws * ws]
    linear(f"{name}.attn.qkv", dim, 3 * dim)
    linear(f"{name}.attn.proj", dim, dim)
    layernorm(f"{name}.norm2", dim)
    linear(f"{name}.mlp.fc1", dim, 4 * dim)
    linear(f"{name}.mlp.fc2", 4 * dim, dim)


embed = 48
# PatchEmbed(patch_size=2, in_chans=3, embed_dim=48, norm_layer=LayerNorm)
sd["patch_embed.proj.weight"] = [embed, 3, 2, 2]
sd["patch_embed.proj.bias"] = [embed]
layernorm("patch_embed.norm", embed)

# self.layers: BasicLayer(dim=48*2**i, depth, heads, downsample=PatchMerging for i < 3)
for i, (depth, heads) in enumerate(zip([2, 2, 6, 2], [3, 6, 12, 24], strict=True)):
    dim = embed * 2**i
    for j in range(depth):
        swin_block(f"layers.{i}.blocks.{j}", dim, heads)
    if i < 3:  # PatchMerging: reduction Linear(4C, 2C, bias=False); norm LayerNorm(4C)
        linear(f"layers.{i}.downsample.reduction", 4 * dim, 2 * dim, bias=False)
        layernorm(f"layers.{i}.downsample.norm", 4 * dim)

# self.syn_layers: dim=48*2**(3-i), depths/heads reversed, downsample=PatchSplit for i < 3
for i, (depth, heads) in enumerate(zip([2, 6, 2, 2], [24, 12, 6, 3], strict=True)):
    dim = embed * 2 ** (3 - i)
    for j in range(depth):
        swin_block(f"syn_layers.{i}.blocks.{j}", dim, heads)
    if i < 3:  # PatchSplit: reduction Linear(C, 2C, bias=False); norm LayerNorm(C)
        linear(f"syn_layers.{i}.downsample.reduction", dim, 2 * dim, bias=False)
        layernorm(f"syn_layers.{i}.downsample.norm", dim)

# end_conv: Conv2d(48, 48*4, 5), PixelShuffle(2), Conv2d(48, 3, 3)
conv("end_conv.0", embed, embed * 4, 5)
conv("end_conv.2", embed, 3, 3)

# h_a: conv3x3 384->384->336->288(s2)->240->192(s2), GELUs at odd indices
for idx, (a, b) in zip([0, 2, 4, 6, 8], [(384, 384), (384, 336), (336, 288), (288, 240), (240, 192)], strict=True):
    conv(f"h_a.{idx}", a, b, 3)

# h_mean_s / h_scale_s: conv3x3(192,240), subpel(240,288,2), conv3x3(288,336), subpel(336,384,2),
# conv3x3(384,384); subpel_conv3x3 = Sequential(Conv2d(in, out*4, 3), PixelShuffle(2))
for head in ("h_mean_s", "h_scale_s"):
    conv(f"{head}.0", 192, 240, 3)
    conv(f"{head}.2.0", 240, 288 * 4, 3)
    conv(f"{head}.4", 288, 336, 3)
    conv(f"{head}.6.0", 336, 384 * 4, 3)
    conv(f"{head}.8", 384, 384, 3)

# cc_mean/cc_scale: conv(384 + 32*min(i,6) -> 224 -> 176 -> 128 -> 64 -> 32); lrp: min(i+1, 7)
for i in range(12):
    for name, cin in (
        ("cc_mean_transforms", 384 + 32 * min(i, 6)),
        ("cc_scale_transforms", 384 + 32 * min(i, 6)),
        ("lrp_transforms", 384 + 32 * min(i + 1, 7)),
    ):
        for idx, (a, b) in zip(
            [0, 2, 4, 6, 8], [(cin, 224), (224, 176), (176, 128), (128, 64), (64, 32)], strict=True
        ):
            conv(f"{name}.{i}.{idx}", a, b, 3)

# EntropyBottleneck(192), filters (3,3,3,3): widths (1,3,3,3,3,1)
f = [1, 3, 3, 3, 3, 1]
for i in range(5):
    sd[f"entropy_bottleneck._matrix{i}"] = [192, f[i + 1], f[i]]
    sd[f"entropy_bottleneck._bias{i}"] = [192, f[i + 1], 1]
    if i < 4:
        sd[f"entropy_bottleneck._factor{i}"] = [192, f[i + 1], 1]
sd["entropy_bottleneck.quantiles"] = [192, 1, 3]
sd["entropy_bottleneck.target"] = [3]
for eb in ("entropy_bottleneck", "gaussian_conditional"):
    sd[f"{eb}.likelihood_lower_bound.bound"] = [1]
    for buf in ("_offset", "_quantized_cdf", "_cdf_length"):
        sd[f"{eb}.{buf}"] = [0]
sd["gaussian_conditional.lower_bound_scale.bound"] = [1]
sd["gaussian_conditional.scale_table"] = [0]
sd["gaussian_conditional.scale_bound"] = [1]

if __name__ == "__main__":
    out = Path(__file__).with_name("stf_state_dict.json")
    out.write_text(json.dumps(dict(sorted(sd.items())), indent=0) + "\n")
    print(f"{len(sd)} keys -> {out}")
