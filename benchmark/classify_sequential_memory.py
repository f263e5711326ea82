"""Host memory of one iFGSM step through N rounds of a learned codec and a ResNet-50 (docs/classify.md,
"GPU memory of the sequential attacks"): the activations a GPU holds for the same fp32 graph, to size
`classify.sequential.micro_batch`. Official widths, untrained weights (memory does not depend on them),
224x224 images; each configuration runs in its own process so its peak RSS is its own.

    .venv/bin/python benchmark/classify_sequential_memory.py              # ELIC and HiFiC, N = 1, 2
    .venv/bin/python benchmark/classify_sequential_memory.py elic 3 2 2   # one: codec quality rounds images
"""

from __future__ import annotations

import resource
import subprocess
import sys

RUNS = [("elic", 3, 1, 1), ("elic", 3, 2, 1), ("elic", 3, 2, 2), ("hific", 1, 1, 1), ("hific", 1, 2, 1)]


def one(codec_name: str, quality: int, rounds: int, images: int) -> str:
    import torch
    from torchvision.models import resnet50

    from advcompress.classify.defenses import LearnedProxy
    from advcompress.codecs import make_codec

    torch.set_num_threads(1)
    codec = make_codec(codec_name, quality, weights="untrained").eval()
    model = torch.nn.Sequential(*[LearnedProxy(codec)] * rounds, resnet50().eval())
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(images, 3, 224, 224, requires_grad=True)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    torch.nn.functional.cross_entropy(model(x), torch.zeros(images, dtype=torch.long)).backward()
    step = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return f"{codec_name}@{quality}, N = {rounds}, {images} image(s): {step:.0f} MB for the step"


if __name__ == "__main__":
    if len(sys.argv) == 5:
        print(one(sys.argv[1], *map(int, sys.argv[2:])), flush=True)
    else:
        for run in RUNS:
            subprocess.run([sys.executable, __file__, *map(str, run)], check=True)
