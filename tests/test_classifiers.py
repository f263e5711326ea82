"""The one classifier stack (advcompress.classifiers): the paper's small-input layouts, their
features before the head, and one save, load, predict and accuracy for every network."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advcompress.classifiers import (
    SmallAlexNet,
    SmallCNN,
    SmallResNet,
    SmallVGG16,
    accuracy,
    build,
    load_classifier,
    predict,
    save_classifier,
)
from advcompress.codecs.base import CheckpointError

NETS = {"smallcnn": lambda: SmallCNN(10, width=4), "resnet18": lambda: SmallResNet(width=4, blocks=(1, 1, 1, 1)),
        "alexnet": lambda: SmallAlexNet(scale=0.0625), "vgg16": lambda: SmallVGG16(scale=0.0625)}


def _x(n=5, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _convs(net, k=None):
    return [m for m in net.modules() if isinstance(m, nn.Conv2d) and (k is None or m.kernel_size == (k, k))]


def test_the_paper_layouts_at_full_width():
    """Tables 1-3 of Xue et al.: AlexNet 5 conv + 3 FC (4096, 4096, 10; 11x11 stride-4 conv to 8x8),
    ResNet-18 17 3x3 conv + 1 FC, VGG-16 13 conv + 3 FC (512, 512, 10)."""
    alex, vgg, res = SmallAlexNet(), SmallVGG16(), SmallResNet()
    fcs = lambda n: [(m.in_features, m.out_features) for m in n.modules() if isinstance(m, nn.Linear)]  # noqa: E731
    assert [c.out_channels for c in _convs(alex)] == [96, 256, 384, 384, 256]
    assert fcs(alex) == [(256, 4096), (4096, 4096), (4096, 10)]
    assert alex.body[0](torch.zeros(1, 3, 32, 32)).shape[-2:] == (8, 8)
    assert len(_convs(vgg)) == 13 and fcs(vgg) == [(512, 512), (512, 512), (512, 10)]
    assert len(_convs(res, 3)) == 17 and fcs(res) == [(512, 10)]


@pytest.mark.parametrize("kind", ["alexnet", "vgg16"])
def test_three_fc_nets_expose_the_first_two_fc_outputs_as_e_m2_and_e_m1(kind):
    """Sec. 4.1: AlexNet reads the second FC layer (m - 1), VGG-16 the first two (m - 2, m - 1)."""
    net = NETS[kind]().eval()
    with torch.no_grad():
        e2, e1, logits = net.head_features(_x())
        assert torch.equal(logits, net.fc3(e1)) and torch.equal(logits, net(_x()))
        assert torch.equal(e1, F.relu(net.fc2(e2)))
        assert torch.equal(e2, F.relu(net.fc1(net.body(_x()).flatten(1))))
    assert net.e1_source() is net.fc2


def test_resnet_e_m1_is_the_pooled_vector_its_fc_reads():
    net = NETS["resnet18"]().eval()
    with torch.no_grad():
        e2, e1, logits = net.head_features(_x())
        assert torch.equal(logits, net.fc(e1))
        assert torch.allclose(e1, e2.view(len(e1), e1.shape[1], -1).mean(-1), atol=1e-6)
    assert net.e1_source() is net.body[-1].conv2


@pytest.mark.parametrize("kind", list(NETS))
def test_save_and_load_give_the_same_network_from_the_file_alone(tmp_path, kind):
    torch.manual_seed(0)
    net = NETS[kind]().eval()
    save_classifier(net, tmp_path / "net.pt", {"test_accuracy": 0.5})
    blob = torch.load(tmp_path / "net.pt", weights_only=True)
    assert blob["config"]["kind"] == kind and blob["meta"] == {"test_accuracy": 0.5}
    again = load_classifier(tmp_path / "net.pt")
    assert type(again) is type(net) and not again.training
    with torch.no_grad():
        assert torch.equal(again(_x()), net(_x()))
    assert type(load_classifier(tmp_path / "net.pt", blob["config"])) is type(net)  # a spec, as classify passes


def test_a_file_of_another_layout_is_one_checkpoint_error(tmp_path):
    save_classifier(SmallVGG16(scale=0.0625), tmp_path / "vgg.pt")
    with pytest.raises(CheckpointError, match="vgg.pt does not fit"):
        load_classifier(tmp_path / "vgg.pt", {"kind": "vgg16", "scale": 0.125})
    with pytest.raises(ValueError, match="unknown classifier kind 'lenet'"):
        build({"kind": "lenet"})


def test_predict_is_batched_in_eval_mode_and_marks_failed_decodes():
    torch.manual_seed(0)
    net = NETS["vgg16"]()
    assert net.training
    x = _x(7)
    running = [b.clone() for b in net.buffers()]
    pred = predict(net, x, batch_size=3)
    assert not net.training and all(torch.equal(a, b) for a, b in zip(running, net.buffers(), strict=True))
    with torch.no_grad():
        assert torch.equal(pred, net(x).argmax(1))
    x[2, 0, 5, 5] = float("nan")
    got = predict(net, x, batch_size=3)
    assert got[2] == -1 and torch.equal(got[[0, 1, 3, 4, 5, 6]], pred[[0, 1, 3, 4, 5, 6]])
    assert accuracy(net, x, pred) == (6, 7)  # the NaN image counts as wrong; (correct, n)
