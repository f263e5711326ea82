"""Write tcm_state_dict.json (N=128) and tcm_n64_state_dict.json (N=64), transcribed by hand.

NOT generated from advcompress' model: this spells out, in plain Python without torch, the module
tree of `TCM` in jmliu206/LIC_TCM (models/tcm.py, commits 06e4583 / e4ec618, identical in
structure) at config [2]*6, head_dim [8,16,32,32,16,8], M=320, 5 slices, and of the CompressAI
layers it imports (ResidualBlockWithStride, ResidualBlockUpsample, ResidualBlock, AttentionBlock,
GDN with its non-negative reparametrisation buffers). The entropy bottleneck uses the
`_matrix{i}`/`_bias{i}`/`_factor{i}` names of CompressAI < 1.2.5, current when TCM was released;
buffers that `update()` resizes are listed empty. Rerun: `python tests/reference/tcm_transcribe.py`.
"""

import json
from pathlib import Path


def transcribe(N: int, M: int = 320) -> dict[str, list[int]]:
    sd: dict[str, list[int]] = {}

    def conv(name, cin, cout, k):
        sd[f"{name}.weight"] = [cout, cin, k, k]
        sd[f"{name}.bias"] = [cout]

    def linear(name, cin, cout):
        sd[f"{name}.weight"] = [cout, cin]
        sd[f"{name}.bias"] = [cout]

    def layernorm(name, c):
        sd[f"{name}.weight"] = [c]
        sd[f"{name}.bias"] = [c]

    def gdn(name, c):  # GDN: beta (C,), gamma (C, C), NonNegativeParametrizer buffers
        sd[f"{name}.beta"] = [c]
        sd[f"{name}.gamma"] = [c, c]
        for p in ("beta_reparam", "gamma_reparam"):
            sd[f"{name}.{p}.pedestal"] = [1]
            sd[f"{name}.{p}.lower_bound.bound"] = [1]

    def rb_stride(name, cin, cout):  # conv1 3x3/s2, conv2 3x3, gdn, skip 1x1/s2
        conv(f"{name}.conv1", cin, cout, 3)
        conv(f"{name}.conv2", cout, cout, 3)
        gdn(f"{name}.gdn", cout)
        conv(f"{name}.skip", cin, cout, 1)

    def rb_up(name, cin, cout):  # subpel_conv (conv to 4*out + shuffle), conv, igdn, upsample
        conv(f"{name}.subpel_conv.0", cin, cout * 4, 3)
        conv(f"{name}.conv", cout, cout, 3)
        gdn(f"{name}.igdn", cout)
        conv(f"{name}.upsample.0", cin, cout * 4, 3)

    def swin(name, dim, head_dim, ws):  # Block: ln1, msa (WMSA), ln2, mlp Linear-GELU-Linear
        layernorm(f"{name}.ln1", dim)
        linear(f"{name}.msa.embedding_layer", dim, 3 * dim)
        sd[f"{name}.msa.relative_position_params"] = [dim // head_dim, 2 * ws - 1, 2 * ws - 1]
        linear(f"{name}.msa.linear", dim, dim)
        layernorm(f"{name}.ln2", dim)
        linear(f"{name}.mlp.0", dim, 4 * dim)
        linear(f"{name}.mlp.2", 4 * dim, dim)

    def tcm(name, head_dim, ws):  # ConvTransBlock(N, N, ...)
        swin(f"{name}.trans_block", N, head_dim, ws)
        conv(f"{name}.conv1_1", 2 * N, 2 * N, 1)
        conv(f"{name}.conv1_2", 2 * N, 2 * N, 1)
        conv(f"{name}.conv_block.conv1", N, N, 3)  # ResidualBlock(N, N): no skip
        conv(f"{name}.conv_block.conv2", N, N, 3)

    hd = [8, 16, 32, 32, 16, 8]
    # g_a = [RBWS(3,2N)] + m_down1 + m_down2 + m_down3
    rb_stride("g_a.0", 3, 2 * N)
    tcm("g_a.1", hd[0], 8)
    tcm("g_a.2", hd[0], 8)
    rb_stride("g_a.3", 2 * N, 2 * N)
    tcm("g_a.4", hd[1], 8)
    tcm("g_a.5", hd[1], 8)
    rb_stride("g_a.6", 2 * N, 2 * N)
    tcm("g_a.7", hd[2], 8)
    tcm("g_a.8", hd[2], 8)
    conv("g_a.9", 2 * N, M, 3)
    # g_s = [RBUp(M,2N)] + m_up1 + m_up2 + m_up3
    rb_up("g_s.0", M, 2 * N)
    tcm("g_s.1", hd[3], 8)
    tcm("g_s.2", hd[3], 8)
    rb_up("g_s.3", 2 * N, 2 * N)
    tcm("g_s.4", hd[4], 8)
    tcm("g_s.5", hd[4], 8)
    rb_up("g_s.6", 2 * N, 2 * N)
    tcm("g_s.7", hd[5], 8)
    tcm("g_s.8", hd[5], 8)
    conv("g_s.9.0", 2 * N, 3 * 4, 3)  # subpel_conv3x3(2N, 3, 2)
    # h_a = [RBWS(320, 2N)] + ha_down1 (2 x ConvTransBlock(N, N, 32, 4) + conv3x3(2N, 192, s2))
    rb_stride("h_a.0", 320, 2 * N)
    tcm("h_a.1", 32, 4)
    tcm("h_a.2", 32, 4)
    conv("h_a.3", 2 * N, 192, 3)
    # h_mean_s / h_scale_s = [RBUp(192, 2N)] + 2 x ConvTransBlock(N, N, 32, 4) + subpel(2N, 320)
    for head in ("h_mean_s", "h_scale_s"):
        rb_up(f"{head}.0", 192, 2 * N)
        tcm(f"{head}.1", 32, 4)
        tcm(f"{head}.2", 32, 4)
        conv(f"{head}.3.0", 2 * N, 320 * 4, 3)
    # atten_mean / atten_scale: Sequential(SWAtten(320 + 64*min(i,5), ..., 16, 8, 0, inter_dim=128))
    for i in range(5):
        cin = 320 + 64 * min(i, 5)
        for head in ("atten_mean", "atten_scale"):
            p = f"{head}.{i}.0"
            for branch, n in (("conv_a", 3), ("conv_b", 3)):  # AttentionBlock(128)
                for j in range(n):
                    conv(f"{p}.{branch}.{j}.conv.0", 128, 64, 1)
                    conv(f"{p}.{branch}.{j}.conv.2", 64, 64, 3)
                    conv(f"{p}.{branch}.{j}.conv.4", 64, 128, 1)
            conv(f"{p}.conv_b.3", 128, 128, 1)
            swin(f"{p}.non_local_block.block_1", 128, 16, 8)
            swin(f"{p}.non_local_block.block_2", 128, 16, 8)
            conv(f"{p}.in_conv", cin, 128, 1)
            conv(f"{p}.out_conv", 128, cin, 1)
        for head, c in (
            ("cc_mean_transforms", cin),
            ("cc_scale_transforms", cin),
            ("lrp_transforms", 320 + 64 * min(i + 1, 6)),
        ):
            conv(f"{head}.{i}.0", c, 224, 3)
            conv(f"{head}.{i}.2", 224, 128, 3)
            conv(f"{head}.{i}.4", 128, 64, 3)
    # EntropyBottleneck(192) (replaces the one CompressionModel.__init__ made), filters (3,3,3,3)
    f = [1, 3, 3, 3, 3, 1]
    for i in range(5):
        sd[f"entropy_bottleneck._matrix{i}"] = [192, f[i + 1], f[i]]
        sd[f"entropy_bottleneck._bias{i}"] = [192, f[i + 1], 1]
        if i < 4:
            sd[f"entropy_bottleneck._factor{i}"] = [192, f[i + 1], 1]
    sd["entropy_bottleneck.quantiles"] = [192, 1, 3]
    sd["entropy_bottleneck.target"] = [3]
    for em in ("entropy_bottleneck", "gaussian_conditional"):
        sd[f"{em}.likelihood_lower_bound.bound"] = [1]
        for buf in ("_offset", "_quantized_cdf", "_cdf_length"):
            sd[f"{em}.{buf}"] = [0]
    sd["gaussian_conditional.lower_bound_scale.bound"] = [1]
    sd["gaussian_conditional.scale_table"] = [0]
    sd["gaussian_conditional.scale_bound"] = [1]
    return dict(sorted(sd.items()))


if __name__ == "__main__":
    here = Path(__file__).parent
    for n, name in ((128, "tcm_state_dict.json"), (64, "tcm_n64_state_dict.json")):
        sd = transcribe(n)
        (here / name).write_text(json.dumps(sd, indent=0) + "\n")
        print(f"N={n}: {len(sd)} keys -> {name}")
