"""Independent transcription of the official Song2021 state dict (keys and shapes).

Written by reading micmic123/QmapCompression (models/models.py: SpatiallyAdaptiveCompression;
models/layers.py: Conv2d/UpConv2d/SFT/SFTResblk/GDN1; models/hyperpriors.py: ScaleHyperprior
and CompressionModel; models/entropy_models.py: EntropyBottleneck/GaussianConditional;
ops/parametrizers.py and ops/bound_ops.py) at the official configuration (configs/config.yaml:
N = M = 192, sft_ks = 3; eval.py: prior_nc = 64). It uses no torch module and no project code:
every shape is written out from those constructors. Run it to regenerate song2021_state_dict.json.
"""

import json
from pathlib import Path

N = M = 192  # configs/config.yaml
P = 64  # prior_nc, eval.py
HID = 128  # SFT nhidden default (layers.py)
KS = 3  # sft_ks

sd: dict[str, list[int]] = {}


def conv(name, cin, cout, k):  # nn.Conv2d weight: out, in, k, k
    sd[f"{name}.weight"] = [cout, cin, k, k]
    sd[f"{name}.bias"] = [cout]


def deconv(name, cin, cout, k):  # nn.ConvTranspose2d weight: in, out, k, k
    sd[f"{name}.weight"] = [cin, cout, k, k]
    sd[f"{name}.bias"] = [cout]


def gdn(name, c):  # layers.GDN: beta, gamma and two NonNegativeParametrizers
    sd[f"{name}.beta"] = [c]
    sd[f"{name}.gamma"] = [c, c]
    for r in ("beta_reparam", "gamma_reparam"):
        sd[f"{name}.{r}.pedestal"] = [1]
        sd[f"{name}.{r}.lower_bound.bound"] = [1]


def sft(name, c):  # layers.SFT(x_nc=c, prior_nc=64, ks=3, nhidden=128)
    conv(f"{name}.mlp_shared.0", P, HID, KS)
    conv(f"{name}.mlp_gamma", HID, c, KS)
    conv(f"{name}.mlp_beta", HID, c, KS)


def sftres(name, c):  # layers.SFTResblk
    conv(f"{name}.conv_0", c, c, 3)
    conv(f"{name}.conv_1", c, c, 3)
    sft(f"{name}.norm_0", c)
    sft(f"{name}.norm_1", c)


# CompressionModel.__init__: EntropyBottleneck(N) (entropy_models.py, filters (3, 3, 3, 3))
eb = "entropy_bottleneck"
for b in ("_offset", "_quantized_cdf", "_cdf_length"):
    sd[f"{eb}.{b}"] = [0]  # empty IntTensor until update(); resized on load
sd[f"{eb}.likelihood_lower_bound.bound"] = [1]
f = [1, 3, 3, 3, 3, 1]
for i in range(5):
    sd[f"{eb}._matrices.{i}"] = [N, f[i + 1], f[i]]
    sd[f"{eb}._biases.{i}"] = [N, f[i + 1], 1]
    if i < 4:
        sd[f"{eb}._factors.{i}"] = [N, f[i + 1], 1]
sd[f"{eb}.quantiles"] = [N, 1, 3]
sd[f"{eb}.target"] = [3]

# ScaleHyperprior.__init__: GaussianConditional(None); its g_a, g_s, h_a are set to None by the
# subclass (no keys) and h_s is replaced.
gc = "gaussian_conditional"
for b in ("_offset", "_quantized_cdf", "_cdf_length", "scale_table"):
    sd[f"{gc}.{b}"] = [0]
sd[f"{gc}.likelihood_lower_bound.bound"] = [1]
sd[f"{gc}.lower_bound_scale.bound"] = [1]
sd[f"{gc}.scale_bound"] = [1]

# qmap_feature_g1: conv(4, 256, 3, 1), LReLU, conv(256, 128, 3, 1), LReLU, conv(128, 64, 3, 1)
conv("qmap_feature_g1.0", 4, 256, 3)
conv("qmap_feature_g1.2", 256, 128, 3)
conv("qmap_feature_g1.4", 128, 64, 3)
for i in (2, 3, 4, 5):  # conv(64, 64, 3), LReLU, conv(64, 64, 1, 1)
    conv(f"qmap_feature_g{i}.0", 64, 64, 3)
    conv(f"qmap_feature_g{i}.2", 64, 64, 1)
conv("qmap_feature_h1.0", 193, 256, 3)  # M + 1 input channels
conv("qmap_feature_h1.2", 256, 128, 3)
conv("qmap_feature_h1.4", 128, 64, 3)
for i in (2, 3):
    conv(f"qmap_feature_h{i}.0", 64, 64, 3)
    conv(f"qmap_feature_h{i}.2", 64, 64, 1)
deconv("qmap_feature_gs0.0", 192, 96, 3)  # UpConv2d(N, N//2, 3)
deconv("qmap_feature_gs0.2", 96, 48, 5)  # UpConv2d(N//2, N//4)
conv("qmap_feature_gs0.4", 48, 48, 3)
conv("qmap_feature_gs1.0", 240, 256, 3)  # N + N // 4 = 240
conv("qmap_feature_gs1.2", 256, 128, 3)
conv("qmap_feature_gs1.4", 128, 64, 3)
for i in (2, 3, 4, 5):  # UpConv2d(64, 64, 3), LReLU, conv(64, 64, 1, 1)
    deconv(f"qmap_feature_gs{i}.0", 64, 64, 3)
    conv(f"qmap_feature_gs{i}.2", 64, 64, 1)

# g_a
conv("g_a0", 3, 48, 5)
gdn("g_a1", 48)
sft("g_a2", 48)
conv("g_a3", 48, 96, 5)
gdn("g_a4", 96)
sft("g_a5", 96)
conv("g_a6", 96, 192, 5)
gdn("g_a7", 192)
sft("g_a8", 192)
conv("g_a9", 192, 192, 5)
gdn("g_a10", 192)
sft("g_a11", 192)
conv("g_a12", 192, 192, 5)
sftres("g_a13", 192)
sftres("g_a14", 192)

# h_a
conv("h_a0", 192, 192, 3)
sft("h_a1", 192)
conv("h_a3", 192, 192, 5)
sft("h_a4", 192)
conv("h_a6", 192, 192, 5)
sftres("h_a7", 192)
sftres("h_a8", 192)

# g_s
sftres("g_s0", 192)
sftres("g_s1", 192)
deconv("g_s2", 192, 192, 5)
gdn("g_s3", 192)
sft("g_s4", 192)
deconv("g_s5", 192, 192, 5)
gdn("g_s6", 192)
sft("g_s7", 192)
deconv("g_s8", 192, 96, 5)
gdn("g_s9", 96)
sft("g_s10", 96)
deconv("g_s11", 96, 48, 5)
gdn("g_s12", 48)
sft("g_s13", 48)
conv("g_s14", 48, 3, 5)

# h_s: UpConv2d(N, M), LReLU, UpConv2d(M, 288), LReLU, conv(288, 384, k=3, s=1)
deconv("h_s.0", 192, 192, 5)
deconv("h_s.2", 192, 288, 5)
conv("h_s.4", 288, 384, 3)

if __name__ == "__main__":
    out = Path(__file__).with_name("song2021_state_dict.json")
    out.write_text(json.dumps(dict(sorted(sd.items())), indent=1) + "\n")
    print(f"{len(sd)} keys -> {out}")
