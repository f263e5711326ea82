"""Independent transcription of the official ELIC module tree -> tests/reference/elic_state_dict.json.

Written by reading `Network.py` (class `TestModel`, N=192, M=320, groups=[0, 16, 16, 32, 64, 192])
and `ELICUtilis/layers` of github.com/VincentChandelier/ELiC-ReImplemetation, and the entropy
models of CompressAI 1.2.8 (the project's pin). It only does shape arithmetic with plain Python;
it imports nothing from `advcompress`, so it cannot echo our own module. Run it from the repo
root: `python tests/reference/elic_transcription.py`.
"""

import json
from pathlib import Path

N, M = 192, 320
GROUPS = [0, 16, 16, 32, 64, 192]  # official list, with its leading 0
NUM_SLICES = 5
REF = {}


def add(prefix, **shapes):
    for name, shape in shapes.items():
        REF[f"{prefix}.{name}"] = list(shape)


def conv(p, i, o, k=5):  # compressai.models.utils.conv / nn.Conv2d
    add(p, weight=(o, i, k, k), bias=(o,))


def deconv(p, i, o, k=5):  # nn.ConvTranspose2d stores (in, out, k, k)
    add(p, weight=(i, o, k, k), bias=(o,))


def rbb(p, ch):  # ResidualBottleneckBlock: conv1x1 -> conv3x3 -> conv1x1
    conv(f"{p}.conv1", ch, ch // 2, 1)
    conv(f"{p}.conv2", ch // 2, ch // 2, 3)
    conv(f"{p}.conv3", ch // 2, ch, 1)


def attention(p, ch):  # AttentionBlock: conv_a = 3 residual units, conv_b = 3 units + conv1x1
    for branch in ("conv_a", "conv_b"):
        for u in range(3):
            conv(f"{p}.{branch}.{u}.conv.0", ch, ch // 2, 1)
            conv(f"{p}.{branch}.{u}.conv.2", ch // 2, ch // 2, 3)
            conv(f"{p}.{branch}.{u}.conv.4", ch // 2, ch, 1)
    conv(f"{p}.conv_b.3", ch, ch, 1)


# g_a: conv, 3 RBB, conv, 3 RBB, attn, conv, 3 RBB, conv, attn
conv("g_a.0", 3, N)
for i in (1, 2, 3):
    rbb(f"g_a.{i}", N)
conv("g_a.4", N, N)
for i in (5, 6, 7):
    rbb(f"g_a.{i}", N)
attention("g_a.8", N)
conv("g_a.9", N, N)
for i in (10, 11, 12):
    rbb(f"g_a.{i}", N)
conv("g_a.13", N, M)
attention("g_a.14", M)

# g_s: attn, deconv, 3 RBB, deconv, attn, 3 RBB, deconv, 3 RBB, deconv
attention("g_s.0", M)
deconv("g_s.1", M, N)
for i in (2, 3, 4):
    rbb(f"g_s.{i}", N)
deconv("g_s.5", N, N)
attention("g_s.6", N)
for i in (7, 8, 9):
    rbb(f"g_s.{i}", N)
deconv("g_s.10", N, N)
for i in (11, 12, 13):
    rbb(f"g_s.{i}", N)
deconv("g_s.14", N, 3)

# h_a / h_s (ReLUs at the odd indices)
conv("h_a.0", M, N, 3)
conv("h_a.2", N, N)
conv("h_a.4", N, N)
deconv("h_s.0", N, N)
deconv("h_s.2", N, N * 3 // 2)
conv("h_s.4", N * 3 // 2, 2 * M, 3)

# cc_transforms[i - 1], i = 1 .. num_slices - 1
for i in range(1, NUM_SLICES):
    p = f"cc_transforms.{i - 1}"
    conv(f"{p}.0", GROUPS[1] + (i > 1) * GROUPS[i], 224)
    conv(f"{p}.2", 224, 128)
    conv(f"{p}.4", 128, GROUPS[i + 1] * 2)

# context_prediction[i - 1] = CheckboardMaskedConv2d(g_i, 2 g_i, 5) with a `mask` buffer
for i in range(1, NUM_SLICES + 1):
    p = f"context_prediction.{i - 1}"
    g = GROUPS[i]
    add(p, weight=(2 * g, g, 5, 5), bias=(2 * g,), mask=(2 * g, g, 5, 5))

# ParamAggregation[i - 1]: 1x1 convs, in = 2 g_i + (i > 1) 2 g_i + 2M
for i in range(1, NUM_SLICES + 1):
    p = f"ParamAggregation.{i - 1}"
    g = GROUPS[i]
    conv(f"{p}.0", g * 2 + (i > 1) * g * 2 + M * 2, M * 2, 1)
    conv(f"{p}.2", M * 2, 512, 1)
    conv(f"{p}.4", 512, g * 2, 1)

# EntropyBottleneck(N), CompressAI 1.2.8 names, filters (3, 3, 3, 3); CDF buffers empty
# until update() (their shapes depend on the trained quantiles).
filters = (1, 3, 3, 3, 3, 1)
for k in range(5):
    add("entropy_bottleneck", **{f"matrices.{k}": (N, filters[k + 1], filters[k])})
    add("entropy_bottleneck", **{f"biases.{k}": (N, filters[k + 1], 1)})
    if k < 4:
        add("entropy_bottleneck", **{f"factors.{k}": (N, filters[k + 1], 1)})
add("entropy_bottleneck", quantiles=(N, 1, 3), target=(3,), _offset=(0,), _quantized_cdf=(0,))
add("entropy_bottleneck", _cdf_length=(0,), **{"likelihood_lower_bound.bound": (1,)})

# GaussianConditional(None)
add("gaussian_conditional", _offset=(0,), _quantized_cdf=(0,), _cdf_length=(0,))
add("gaussian_conditional", scale_table=(0,), scale_bound=(1,))
add(
    "gaussian_conditional",
    **{"likelihood_lower_bound.bound": (1,), "lower_bound_scale.bound": (1,)},
)

if __name__ == "__main__":
    out = Path(__file__).with_name("elic_state_dict.json")
    out.write_text(json.dumps(dict(sorted(REF.items())), indent=1) + "\n")
    print(f"{len(REF)} entries -> {out}")
