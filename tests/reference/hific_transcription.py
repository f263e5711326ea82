"""Independent transcription of the official HiFiC codec modules -> hific_state_dict.json.

Written by reading github.com/Justin-Tan/high-fidelity-generative-compression: `src/model.py`
(`Model` holds `Encoder`, `Generator`, `Hyperprior`; `Discriminator` and `perceptual_loss`
only for training), `src/network/encoder.py`, `src/network/generator.py`,
`src/network/hyper.py`, `src/hyperprior.py` (`Hyperprior`, LARGE_HYPERLATENT_FILTERS = 320),
`src/compression/hyperprior_model.py` (`HyperpriorDensity`, filters (3, 3, 3)),
`src/normalisation/channel.py` (`ChannelNorm2D`: gamma, beta of shape (1, C, 1, 1)) and
`default_config.py` (latent_channels 220, n_residual_blocks 9, channel norm, no noise).
Plain-Python shape arithmetic; imports nothing from `advcompress`.
Run from the repo root: `python tests/reference/hific_transcription.py`.
"""

import json
from pathlib import Path

C = 220  # latent_channels
N = 320  # hyperlatent filters
ENC = (60, 120, 240, 480, 960)
GEN = (960, 480, 240, 120, 60)
N_RES = 9
REF = {}


def conv(p, i, o, k):
    REF[f"{p}.weight"] = [o, i, k, k]
    REF[f"{p}.bias"] = [o]


def convT(p, i, o, k):
    REF[f"{p}.weight"] = [i, o, k, k]
    REF[f"{p}.bias"] = [o]


def cnorm(p, ch):
    REF[f"{p}.gamma"] = [1, ch, 1, 1]
    REF[f"{p}.beta"] = [1, ch, 1, 1]


# Encoder: Sequential(pad, conv, norm, act) blocks; conv_block_out = (pad, conv)
conv("Encoder.conv_block1.1", 3, ENC[0], 7)
cnorm("Encoder.conv_block1.2", ENC[0])
for b in range(2, 6):
    conv(f"Encoder.conv_block{b}.1", ENC[b - 2], ENC[b - 1], 3)
    cnorm(f"Encoder.conv_block{b}.2", ENC[b - 1])
conv("Encoder.conv_block_out.1", ENC[4], C, 3)

# Generator: conv_block_init = (norm(C), pad, conv, norm); resblock_m; upconv_blockK = (convT,
# norm, act); conv_block_out = (pad, conv 7x7)
cnorm("Generator.conv_block_init.0", C)
conv("Generator.conv_block_init.2", C, GEN[0], 3)
cnorm("Generator.conv_block_init.3", GEN[0])
for m in range(N_RES):
    p = f"Generator.resblock_{m}"
    conv(f"{p}.conv1", GEN[0], GEN[0], 3)
    conv(f"{p}.conv2", GEN[0], GEN[0], 3)
    cnorm(f"{p}.norm1", GEN[0])
    cnorm(f"{p}.norm2", GEN[0])
for k in range(1, 5):
    convT(f"Generator.upconv_block{k}.0", GEN[k - 1], GEN[k], 3)
    cnorm(f"Generator.upconv_block{k}.1", GEN[k])
conv("Generator.conv_block_out.1", GEN[4], 3, 7)

# Hyperprior: analysis (conv 3x3, conv 5x5 s2, conv 5x5 s2), synthesis_mu / synthesis_std
# (convT 5x5 s2, convT 5x5 s2, convT 3x3)
conv("Hyperprior.analysis_net.conv1", C, N, 3)
conv("Hyperprior.analysis_net.conv2", N, N, 5)
conv("Hyperprior.analysis_net.conv3", N, N, 5)
for s in ("synthesis_mu", "synthesis_std"):
    convT(f"Hyperprior.{s}.conv1", N, N, 5)
    convT(f"Hyperprior.{s}.conv2", N, N, 5)
    convT(f"Hyperprior.{s}.conv3", N, C, 3)

# HyperpriorDensity(n_channels=N, filters=(3, 3, 3)): H_k, a_k, b_k for k = 0..3
sizes = (1, 3, 3, 3, 1)
for k in range(4):
    p = "Hyperprior.hyperlatent_likelihood"
    REF[f"{p}.H_{k}"] = [N, sizes[k + 1], sizes[k]]
    REF[f"{p}.a_{k}"] = [N, sizes[k + 1], 1]
    REF[f"{p}.b_{k}"] = [N, sizes[k + 1], 1]

if __name__ == "__main__":
    out = Path(__file__).with_name("hific_state_dict.json")
    out.write_text(json.dumps(dict(sorted(REF.items())), indent=1) + "\n")
    print(f"{len(REF)} entries -> {out}")
