"""Independent transcription of the official Cai2022 (HiFi-VRIC) state dict: keys and shapes.

Written by reading github.com/CaiShilv/HiFi-VRIC (models/models.py: VRIC_IAT;
models/our_utils.py: InvComp, CouplingLayer, Bottleneck, SqueezeLayer, InvertibleConv1x1,
EnhModule, EnhBlock, DenseBlock; models/layers.py: IAT, conv3x3, subpel_conv3x3) at the
official configuration (configs/config.yaml: N = M = 192), with the entropy models and
MaskedConv2d of CompressAI 1.1.8, the version the repository pins (entropy bottleneck
parameters named `_matrix{i}`, `_bias{i}`, `_factor{i}`). No torch module and no project code
is used: every shape is written out from those constructors. Run it to regenerate
cai2022_state_dict.json.
"""

import json
from pathlib import Path

N = M = 192  # configs/config.yaml

sd: dict[str, list[int]] = {}


def conv(name, cin, cout, k):  # nn.Conv2d weight: out, in, k, k
    sd[f"{name}.weight"] = [cout, cin, k, k]
    sd[f"{name}.bias"] = [cout]


def bottleneck(name, cin, cout, k):  # our_utils.Bottleneck: conv1 k, conv2 1x1, conv3 k
    conv(f"{name}.conv1", cin, cout, k)
    conv(f"{name}.conv2", cout, cout, 1)
    conv(f"{name}.conv3", cout, cout, k)


def coupling(name, s1, s2, k):  # our_utils.CouplingLayer(split_len1, split_len2, k)
    bottleneck(f"{name}.G1", s1, s2, k)
    bottleneck(f"{name}.G2", s2, s1, k)
    bottleneck(f"{name}.H1", s1, s2, k)
    bottleneck(f"{name}.H2", s2, s1, k)


def iat(name, x_nc, nhidden):  # layers.IAT(x_nc, prior_nc=1, ks=3, nhidden)
    conv(f"{name}.mlp_shared.0", 1, nhidden, 3)
    conv(f"{name}.mlp_shared.2", nhidden, nhidden, 1)
    for branch in ("mlp_gamma", "mlp_beta"):
        conv(f"{name}.{branch}.0", nhidden, x_nc, 3)
        conv(f"{name}.{branch}.2", x_nc, x_nc, 1)


def dense(name, cin, cout, gc=32):  # our_utils.DenseBlock
    conv(f"{name}.conv1", cin, gc, 3)
    conv(f"{name}.conv2", cin + gc, gc, 3)
    conv(f"{name}.conv3", cin + 2 * gc, gc, 3)
    conv(f"{name}.conv4", cin + 3 * gc, gc, 3)
    conv(f"{name}.conv5", cin + 4 * gc, cout, 3)


# self.inv = InvComp(3, M): in_nc 3 -> 12 -> 48 -> 192 -> 768
# level 1: SqueezeLayer (no tensors), InvertibleConv1x1(12), 3 x CouplingLayer(3, 9, 5)
sd["inv.operations1.1.weight"] = [12, 12]
for i in (2, 3, 4):
    coupling(f"inv.operations1.{i}", 3, 9, 5)
iat("inv.SFTlevel_1", 12, 24)
sd["inv.operations2.1.weight"] = [48, 48]
for i in (2, 3, 4):
    coupling(f"inv.operations2.{i}", 12, 36, 5)
iat("inv.SFTlevel_2", 48, 96)
sd["inv.operations3.1.weight"] = [192, 192]
for i in (2, 3, 4):
    coupling(f"inv.operations3.{i}", 48, 144, 3)
iat("inv.SFTlevel_3", 192, 384)
sd["inv.operations4.1.weight"] = [768, 768]
for i in (2, 3, 4):
    coupling(f"inv.operations4.{i}", 192, 576, 3)
iat("inv.SFTlevel_4", 192, 384)  # x_nc = in_nc // 4 = 192, nhidden = 384

# self.enh = EnhModule(64): forw_enh and back_enh, each EnhBlock(64)
for e in ("forw_enh", "back_enh"):
    dense(f"enh.{e}.layers.0", 3, 64)
    conv(f"enh.{e}.layers.1", 64, 64, 1)
    conv(f"enh.{e}.layers.2", 64, 64, 3)
    conv(f"enh.{e}.layers.3", 64, 64, 1)
    dense(f"enh.{e}.layers.4", 64, 3)

# h_a: conv3x3 M->M, M->M, M->M (s2), M->M, M->N (s2), LeakyReLUs between
for i in (0, 2, 4, 6):
    conv(f"h_a.{i}", 192, 192, 3)
conv("h_a.8", 192, 192, 3)
# h_s: conv3x3(N, M), subpel(M, M, 2), conv3x3(M, M), subpel(M, M, 2), conv3x3(M, 2M)
conv("h_s.0", 192, 192, 3)
conv("h_s.2.0", 192, 768, 3)  # subpel_conv3x3: Conv2d(in, out * 4) + PixelShuffle(2)
conv("h_s.4", 192, 192, 3)
conv("h_s.6.0", 192, 768, 3)
conv("h_s.8", 192, 384, 3)
# context_prediction = MaskedConv2d(N, 2N, 5): weight, bias and the mask buffer
conv("context_prediction", 192, 384, 5)
sd["context_prediction.mask"] = [384, 192, 5, 5]
# entropy_parameters: 1x1 convs 4M -> 10M/3 -> 8M/3 -> 2M
conv("entropy_parameters.0", 768, 640, 1)
conv("entropy_parameters.2", 640, 512, 1)
conv("entropy_parameters.4", 512, 384, 1)

# entropy_bottleneck = EntropyBottleneck(N) of CompressAI 1.1.8, filters (3, 3, 3, 3)
eb = "entropy_bottleneck"
for b in ("_offset", "_quantized_cdf", "_cdf_length"):
    sd[f"{eb}.{b}"] = [0]  # empty until update(); resized on load
sd[f"{eb}.likelihood_lower_bound.bound"] = [1]
f = [1, 3, 3, 3, 3, 1]
for i in range(5):
    sd[f"{eb}._matrix{i}"] = [N, f[i + 1], f[i]]
    sd[f"{eb}._bias{i}"] = [N, f[i + 1], 1]
    if i < 4:
        sd[f"{eb}._factor{i}"] = [N, f[i + 1], 1]
sd[f"{eb}.quantiles"] = [N, 1, 3]
sd[f"{eb}.target"] = [3]
# gaussian_conditional = GaussianConditional(None)
gc = "gaussian_conditional"
for b in ("_offset", "_quantized_cdf", "_cdf_length", "scale_table"):
    sd[f"{gc}.{b}"] = [0]
sd[f"{gc}.likelihood_lower_bound.bound"] = [1]
sd[f"{gc}.lower_bound_scale.bound"] = [1]
sd[f"{gc}.scale_bound"] = [1]

if __name__ == "__main__":
    out = Path(__file__).with_name("cai2022_state_dict.json")
    out.write_text(json.dumps(dict(sorted(sd.items())), indent=1) + "\n")
    print(f"{len(sd)} keys -> {out}")
