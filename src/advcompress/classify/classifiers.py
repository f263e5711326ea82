"""Classifiers the defenses protect: a small digits CNN trained here, torchvision ImageNet nets.

Every classifier takes images in [0, 1] (normalisation lives inside), so attacks, defenses and
budgets all work in pixel units. CAM-capable classifiers expose `features` (last conv maps) and
`head` (a linear layer after global average pooling) for the adaptive JPEG saliency maps.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from advcompress.device import to_python

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's files of the paper's classifiers: ResNet-50 IMAGENET1K_V2, as the paper's code loads
# it (evaluated at short side 232, centre crop 224: the net's `resize` key), and ViT-B/16 IMAGENET1K_V1.
TORCHVISION_WEIGHTS = {
    "resnet50": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
    "vit_b_16": "https://download.pytorch.org/models/vit_b_16-c867db91.pth",
}


class SmallCNN(nn.Module):
    """Three conv stages, global average pooling, one linear layer (so class activation maps exist)."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()

        def stage(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            )

        self.stages = nn.ModuleList([stage(3, width), stage(width, 2 * width), stage(2 * width, 4 * width)])
        self.head = nn.Linear(4 * width, num_classes)

    def features(self, x: torch.Tensor, hook=None) -> torch.Tensor:
        """Last conv maps; `hook(i, a)` may replace stage i's output (augmented saliency jitters it)."""
        x = x - 0.5
        for i, s in enumerate(self.stages):
            x = s(x)
            if hook is not None:
                x = hook(i, x)
            if i < len(self.stages) - 1:
                x = F.max_pool2d(x, 2)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


class TorchvisionClassifier(nn.Module):
    """An ImageNet network with its normalisation inside, optionally restricted to a logit subset.

    `classes` keeps only those ImageNet logits (Imagenette: its ten classes), so label i of the
    dataset is logit `classes[i]`.
    """

    def __init__(self, net: nn.Module, arch: str, classes: list[int] | None = None):
        super().__init__()
        self.net = net
        self.arch = arch
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.register_buffer("classes", torch.tensor(classes if classes is not None else [], dtype=torch.long))
        if arch.startswith("resnet"):
            self.head = net.fc

    def _subset(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, self.classes] if self.classes.numel() else logits

    def features(self, x: torch.Tensor, hook=None) -> torch.Tensor:
        if not self.arch.startswith("resnet"):
            raise TypeError(f"{self.arch} has no convolutional feature maps for class activation maps")
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1((x - self.mean) / self.std))))
        for i, layer in enumerate([n.layer1, n.layer2, n.layer3, n.layer4]):
            x = layer(x)
            if hook is not None:
                x = hook(i, x)
        return x

    def cam_weights(self) -> torch.Tensor:
        w = self.net.fc.weight
        return w[self.classes] if self.classes.numel() else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._subset(self.net((x - self.mean) / self.std))


def pooled_logits(clf: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    """Logits from the last conv maps (global average pooling, then the head), kept classes only."""
    logits = clf.head(feats.mean((2, 3)))
    return clf._subset(logits) if hasattr(clf, "_subset") else logits


def cam_weights(clf: nn.Module) -> torch.Tensor:
    """Weights of the linear layer after pooling, one row per (kept) class."""
    return clf.cam_weights() if hasattr(clf, "cam_weights") else clf.head.weight


def train_small_cnn(x: torch.Tensor, y: torch.Tensor, settings: dict, generator: torch.Generator) -> tuple[SmallCNN, dict]:
    """Adam on random mini-batches with small random shifts (digits are centred; shifts regularise)."""
    model = SmallCNN(int(y.max()) + 1, int(settings.get("width", 32)))
    opt = torch.optim.Adam(model.parameters(), lr=float(settings["lr"]))
    bs, epochs = int(settings["batch_size"]), int(settings["epochs"])
    steps_per_epoch = max(1, len(x) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, float(settings["lr"]), total_steps=epochs * steps_per_epoch)
    model.train()
    history = []
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=generator)
        losses = []
        for i in range(steps_per_epoch):
            idx = perm[i * bs : (i + 1) * bs]
            xb = _random_shift(x[idx], 2, generator)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach())
        # one host transfer per epoch; summed in Python in step order, as a per-step float() did
        history.append(sum(to_python(torch.stack(losses))) / steps_per_epoch)
        log.info("epoch %d: loss %.4f", epoch + 1, history[-1])
    model.eval()
    return model, {"loss_history": history}


def _random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    return correct / len(x)


def save_classifier(model: nn.Module, path, meta: dict) -> None:
    from advcompress.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)


def load_classifier(spec: dict, checkpoint, device="cpu") -> nn.Module:
    """Rebuild classifier `spec` ({kind: smallcnn|torchvision, ...}) from its weights file."""
    from advcompress.codecs.base import load_state

    kind = spec["kind"]
    if kind == "smallcnn":
        model = SmallCNN(int(spec.get("num_classes", 10)), int(spec.get("width", 32)))
        model.load_state_dict(load_state(checkpoint), strict=True)
    elif kind == "torchvision":
        model = load_torchvision(spec["arch"], checkpoint, spec.get("classes"))
    else:
        raise ValueError(f"unknown classifier kind {kind!r}; choose smallcnn or torchvision")
    return model.to(device).eval()


def load_torchvision(arch: str, checkpoint, classes: list[int] | None = None) -> TorchvisionClassifier:
    """torchvision `arch` with ImageNet weights from a file the user or the fetch rule placed."""
    import torchvision

    if not Path(checkpoint).exists():
        url = TORCHVISION_WEIGHTS.get(arch, "the torchvision model zoo")
        raise FileNotFoundError(
            f"ImageNet weights for {arch} are missing at {checkpoint}; download {url} and place the file there"
        )
    net = getattr(torchvision.models, arch)(weights=None)
    from advcompress.codecs.base import load_state

    net.load_state_dict(load_state(checkpoint), strict=True)
    return TorchvisionClassifier(net, arch, classes)
