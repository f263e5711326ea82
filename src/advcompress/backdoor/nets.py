"""A small ResNet-18-style classifier whose last two feature layers E_{m-1}, E_{m-2} are readable.

Feature consistency (Eqs. 4-6 of the compression-resistant backdoor paper) compares the features of
a backdoor image and its compressed version at the layers just before the classifier head, so the
network returns them beside the logits. The paper-tier ResNet-18 is this class with width 64 and
two blocks per stage (17 conv layers + 1 fully connected layer, Table 2 of the paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.short(x))


class SmallResNet(nn.Module):
    """ResNet for 32x32 inputs: 3x3 stem, four stages (strides 1, 2, 2, 2), average pool, one FC.

    `features(x)` gives E_{m-2} (the last stage's feature map, flattened), E_{m-1} (the pooled
    vector the FC layer reads) and the logits.
    """

    def __init__(self, num_classes: int = 10, width: int = 64, blocks=(2, 2, 2, 2)):
        super().__init__()
        self.config = {"num_classes": num_classes, "width": width, "blocks": list(blocks)}
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            for j in range(n):
                layers.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fmap = self.body(self.stem(x))
        pooled = F.adaptive_avg_pool2d(fmap, 1).flatten(1)
        return fmap.flatten(1), pooled, self.fc(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[2]


def save_classifier(net: SmallResNet, path, meta: dict | None = None) -> None:
    """State dict plus the constructor's settings; loads with weights_only=True."""
    from advcompress.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"state_dict": net.state_dict(), "config": net.config, "meta": meta or {}}, tmp)


def load_classifier(path, device="cpu") -> SmallResNet:
    from advcompress.codecs.base import CheckpointError, load_blob

    blob = load_blob(path)
    try:
        net = SmallResNet(**blob["config"])
        net.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"classifier checkpoint {path} does not fit ({type(e).__name__}: {e})") from None
    return net.to(device).eval()


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Predicted labels in eval mode, batched so big test sets fit in memory."""
    net.eval()
    device = next(net.parameters()).device
    out = [net(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)
