"""The one classifier stack of the classify and backdoor studies: the networks, and one save, load,
predict and accuracy for all of them.

Networks: the classify study's digits CNN and torchvision ImageNet nets, and the backdoor study's
small-input ResNet-18, AlexNet and VGG-16 layouts (Xue et al., Tables 1-3). Every classifier takes
images in [0, 1]. CAM-capable classifiers expose `features` (last conv maps) and `head` (a linear
layer after global average pooling) for the adaptive JPEG saliency maps; the backdoor networks
expose `head_features` (E_{m-2}, E_{m-1}, logits) for feature consistency (Eqs. 4-6).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from advcompress.device import to_python

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
        self.config = {"kind": "smallcnn", "num_classes": num_classes, "width": width}

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


# -- the backdoor study's small-input networks (Xue et al., Tables 1-3) -----------------------------
#
# Each returns, from `head_features(x)`, the two layers before its output layer, E_{m-2} and E_{m-1}
# (Eq. 4 compares them for a backdoor image and its compressed version), and the logits; and names
# in `e1_source()` the layer whose output channels are E_{m-1} (TrojanNN picks its neurons there).


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


class _HeadFeatures(nn.Module):
    """forward = the logits of head_features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_features(x)[2]


class SmallResNet(_HeadFeatures):
    """ResNet for 32x32 inputs (Table 2): 3x3 stem, four stages (strides 1, 2, 2, 2), average pool,
    one FC. Width 64 and two blocks per stage is ResNet-18 (17 conv layers + 1 FC).

    E_{m-2} is the last stage's feature map (flattened), E_{m-1} the pooled vector the FC reads.
    """

    def __init__(self, num_classes: int = 10, width: int = 64, blocks=(2, 2, 2, 2)):
        super().__init__()
        self.config = {"kind": "resnet18", "num_classes": num_classes, "width": width, "blocks": list(blocks)}
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            for j in range(n):
                layers.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def head_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fmap = self.body(self.stem(x))
        pooled = F.adaptive_avg_pool2d(fmap, 1).flatten(1)
        return fmap.flatten(1), pooled, self.fc(pooled)

    def e1_source(self) -> nn.Module:
        # the last block's second convolution feeds the residual sum whose channels are pooled into E_{m-1}
        return self.body[-1].conv2


def _scaled(channels: int, scale: float) -> int:
    return max(1, round(channels * scale))


class _ThreeFCNet(_HeadFeatures):
    """Conv features, then FC-ReLU, FC-ReLU, FC: E_{m-2} and E_{m-1} are the first two FC outputs
    (Sec. 4.1: AlexNet reads the second, lambda = (1, 0); VGG-16 both, lambda = (0.5, 0.5))."""

    def _head(self, flat: int, hidden: int, num_classes: int) -> None:
        self.fc1, self.fc2, self.fc3 = nn.Linear(flat, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, num_classes)

    def head_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e2 = F.relu(self.fc1(self.body(x).flatten(1)))
        e1 = F.relu(self.fc2(e2))
        return e2, e1, self.fc3(e1)

    def e1_source(self) -> nn.Module:
        return self.fc2


class SmallAlexNet(_ThreeFCNet):
    """AlexNet for 32x32 inputs as the paper's Table 1 lays it out: conv 11x11/4 (96) -> 8x8, pool,
    conv 5x5 (256), pool, conv 3x3 (384, 384, 256), pool -> 1x1, FC 4096, FC 4096, FC. `scale`
    multiplies every width (1 = the paper's). Batch norm after each conv, which Table 1 does not
    list: without it the clean net stayed at chance (TA 0.10 on digits, lr 0.05, docs/backdoor.md).
    No dropout, so E_{m-1} is the same in both passes of Eq. 4."""

    def __init__(self, num_classes: int = 10, scale: float = 1.0):
        super().__init__()
        self.config = {"kind": "alexnet", "num_classes": num_classes, "scale": scale}
        c1, c2, c3, c4, c5 = (_scaled(c, scale) for c in (96, 256, 384, 384, 256))
        pool = lambda: nn.MaxPool2d(3, 2, padding=1)  # noqa: E731
        conv = lambda cin, cout, k, stride: [nn.Conv2d(cin, cout, k, stride, k // 2), nn.BatchNorm2d(cout), nn.ReLU()]  # noqa: E731
        self.body = nn.Sequential(
            *conv(3, c1, 11, 4), pool(), *conv(c1, c2, 5, 1), pool(),
            *conv(c2, c3, 3, 1), *conv(c3, c4, 3, 1), *conv(c4, c5, 3, 1), pool(),
            nn.AdaptiveAvgPool2d(1),  # 1x1 already at 32x32 inputs; other sizes pool to it
        )
        self._head(c5, _scaled(4096, scale), num_classes)


VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class SmallVGG16(_ThreeFCNet):
    """VGG-16 as the paper's Table 3 lays it out: 13 3x3 convs in five pooled stages, FC 512, FC 512,
    FC; at 32x32 the last map is 1x1 (the paper's 224x224 faces give 7x7). `scale` multiplies every
    width. Batch norm after each conv (torchvision's vgg16_bn): plain VGG-16 does not start training
    from scratch at the paper's learning rate 0.1."""

    def __init__(self, num_classes: int = 10, scale: float = 1.0):
        super().__init__()
        self.config = {"kind": "vgg16", "num_classes": num_classes, "scale": scale}
        layers, cin = [], 3
        for v in VGG16_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            cout = _scaled(v, scale)
            layers += [nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self._head(cin, _scaled(512, scale), num_classes)


ARCHS = {"smallcnn": SmallCNN, "resnet18": SmallResNet, "alexnet": SmallAlexNet, "vgg16": SmallVGG16}


def build(spec: dict) -> nn.Module:
    """The untrained network of `spec` ({kind, and that kind's constructor arguments; others ignored})."""
    import inspect

    kind = spec["kind"]
    if kind not in ARCHS:
        raise ValueError(f"unknown classifier kind {kind!r}; choose from {', '.join([*ARCHS, 'torchvision'])}")
    params = inspect.signature(ARCHS[kind]).parameters
    return ARCHS[kind](**{k: v for k, v in spec.items() if k in params and v is not None})


# -- one save, load, predict and accuracy for every classifier ---------------------------------------


def save_classifier(model: nn.Module, path, meta: dict | None = None) -> None:
    """State dict, the network's spec (`config`) and `meta`, written atomically; loads with weights_only=True."""
    from advcompress.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "config": getattr(model, "config", {}), "meta": meta or {}}, tmp)


def load_classifier(checkpoint, spec: dict | None = None, device="cpu") -> nn.Module:
    """Rebuild a classifier from its weights file, in eval mode on `device`.

    `spec` ({kind: smallcnn | resnet18 | alexnet | vgg16 | torchvision, ...}) names the network; None
    takes the spec save_classifier stored in the file. A file that does not fit is one CheckpointError.
    """
    from advcompress.codecs.base import CheckpointError, load_blob

    if spec is not None and spec["kind"] == "torchvision":
        return load_torchvision(spec["arch"], checkpoint, spec.get("classes")).to(device).eval()
    blob = load_blob(checkpoint)
    try:
        model = build(spec if spec is not None else blob["config"])
        model.load_state_dict(blob["state_dict"] if "state_dict" in blob else blob, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"classifier checkpoint {checkpoint} does not fit ({type(e).__name__}: {e})") from None
    return model.to(device).eval()


def load_torchvision(arch: str, checkpoint, classes: list[int] | None = None) -> TorchvisionClassifier:
    """torchvision `arch` with ImageNet weights from a file the user or the fetch rule placed."""
    import torchvision

    from advcompress.codecs.base import load_state

    if not Path(checkpoint).exists():
        url = TORCHVISION_WEIGHTS.get(arch, "the torchvision model zoo")
        raise FileNotFoundError(
            f"ImageNet weights for {arch} are missing at {checkpoint}; download {url} and place the file there"
        )
    net = getattr(torchvision.models, arch)(weights=None)
    net.load_state_dict(load_state(checkpoint), strict=True)
    return TorchvisionClassifier(net, arch, classes)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Top-1 class per image in eval mode, on x's device, batched so big test sets fit in memory;
    -1 where the input holds NaN (a failed decode)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        p = model(torch.nan_to_num(xb).to(device)).argmax(1).to(x.device)
        p[~torch.isfinite(xb).flatten(1).all(1)] = -1
        out.append(p)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=x.device)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """(correct, n) over the test images: the tables carry both, for their intervals."""
    return int(to_python((predict(model, x) == y.to(x.device)).sum())), len(y)
