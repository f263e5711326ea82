"""`advcompress selfcheck`: the core of every GPU job, a few steps on the target device and on the CPU.

Each check builds the same tiny setting twice from the same seed (networks are initialised on the
CPU, then moved), runs the library function a job runs (`train_codec`, SRDA/ARDA through
`attack_grid`, `adversarial_train`, online updating, a classifier attack through a defense and the
defense's real coding, both backdoor trainings) once on the CPU and once on the target device, and
compares the results. Without CUDA the target is the CPU too, so the command checks the code paths
and the comparison itself (differences are then exactly 0).

Random draws that happen on the device (CompressAI's training noise, the `noise` proxy) come from
the CPU generator while a check runs, so both devices see the same numbers; TF32 is off, so the
GPU computes in full float32.

Difference of one result = max |cuda - cpu| / max(1, max |cpu|) for logged series (losses, logits),
mean |cuda - cpu| / max(1, mean |cpu|) for images and perturbations, where one sign flip of a
near-zero gradient (Adam's first step, iFGSM) or one rounding flip moves a few pixels by a step
and nothing more. A check's difference is the largest of its results'.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from advcompress.device import to_python

SEED = 0
MODEL, WIDTHS = "bmshj2018-hyperprior", {"N": 8, "M": 12}
ATTACK = {"steps": 3, "max_warmup_steps": 3, "epsilon": 1e-3, "lr": 1e-2, "lr_final": 1e-3}


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[torch.device], dict[str, tuple[str, torch.Tensor]]]  # result -> (kind, tensor)
    tolerance: float


@contextlib.contextmanager
def same_draws_everywhere():
    """Inside the block, `uniform_` on a non-CPU tensor fills it from the CPU generator, and TF32 is off."""
    original = torch.Tensor.uniform_

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        if self.device.type == "cpu":
            return original(self, a, b, generator=generator)
        return self.copy_(original(torch.empty(self.shape, dtype=self.dtype), a, b, generator=generator))

    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.Tensor.uniform_ = uniform_
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.Tensor.uniform_ = original
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


# -- tiny inputs, identical on every device ---------------------------------------------------------


def _images(n: int, size: int, seed: int = SEED) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 255).round() / 255


def _codec(device, quality: int = 1):
    from advcompress.codecs import make_codec

    torch.manual_seed(SEED + quality)
    return make_codec(MODEL, quality, weights="untrained", widths=WIDTHS, device=device)


def _sampler(seed: int = SEED):
    from advcompress.foundation.train import PatchSampler

    return PatchSampler([_images(1, 80, seed + 1)], 64, torch.Generator().manual_seed(seed))


def _series(rows: list[dict], keys) -> torch.Tensor:
    return torch.tensor([[float(r[k]) for k in keys] for r in rows])


def _eval_out(codec, x) -> torch.Tensor:
    with torch.no_grad():
        return codec.forward(x.to(next(codec.parameters()).device))["x_hat"]


# -- the checks ----------------------------------------------------------------------------------


def check_train(device):
    from advcompress.foundation.train import train_codec

    codec = _codec(device)
    info = train_codec(codec, _sampler(), [1], steps=3, batch_size=2, lr=1e-3, log_every=1, progress=False)
    return {"losses": ("series", _series(info["history"], ["loss", "bpp", "mse255"])),
            "x_hat": ("image", _eval_out(codec, _images(1, 64)))}


def _attack(name, device, codecs):
    from advcompress.attack.algorithms import attack_grid

    res = attack_grid(name, codecs, _images(2, 32).to(device), {"rd": (1.0, 0.01), "sda": (0.0, 1.0)}, ATTACK)
    return {"losses": ("series", _series(res["log"], ["loss", "norm"])),
            "x_adv": ("image", torch.cat(list(res["x_adv"].values())))}


def check_srda(device):
    return _attack("srda", device, _codec(device))


def check_arda(device):
    return _attack("arda", device, [_codec(device, 1), _codec(device, 2)])


def check_at(device):
    from advcompress.defense.adversarial_training import adversarial_train

    codec = _codec(device)
    info = adversarial_train(codec, _sampler(), [1], {"steps": 2, "batch_size": 2, "attack": ATTACK},
                             torch.Generator().manual_seed(SEED))
    return {"losses": ("series", _series(info["history"], ["loss", "loss_adv", "loss_clean"])),
            "x_hat": ("image", _eval_out(codec, _images(1, 64)))}


def check_online(device):
    from advcompress.codecs.wrappers import OnlineCodec, OnlineSettings

    codec = OnlineCodec(_codec(device), OnlineSettings(steps=3))
    x_opt = codec.encoder_input(_images(2, 32).to(device))
    decoded = codec.decompress(codec.compress(_images(1, 32).to(device)))  # real coding of the optimised image
    return {"loss_after": ("series", codec.last_info["loss_after"]), "x_opt": ("image", x_opt),
            "decoded": ("image", decoded)}


def _classifier(device):
    from advcompress.classifiers import SmallCNN

    torch.manual_seed(SEED)
    return SmallCNN(3, width=4).to(device).eval()


def _classify(spec: str, device):
    from advcompress.classify.attacks import run_attack
    from advcompress.classify.defenses import Defense, through_model
    from advcompress.codecs import make_codec

    def make(name, quality):
        if name == MODEL:
            return _codec(device, int(quality))
        return make_codec(name, quality)

    clf, defense = _classifier(device), Defense(spec, make)
    x, y = _images(4, 32).to(device), torch.tensor([0, 1, 2, 0], device=device)
    adv = run_attack("ifgsm", through_model(defense, clf), x, y, eps=8 / 255, settings={"steps": 3})
    decoded, _ = defense.apply(adv)
    with torch.no_grad():
        logits = clf(decoded)
    return {"x_adv": ("image", adv), "decoded": ("image", decoded), "logits": ("series", logits)}


def check_classify_jpeg(device):
    return _classify("jpeg@50", device)


def check_classify_learned(device):
    return _classify(f"{MODEL}@1", device)


def check_backdoor_classifier(device):
    from advcompress.backdoor.compression_resistant import build_poison_set, train_classifier
    from advcompress.backdoor.triggers import gaussian_trigger
    from advcompress.classifiers import SmallResNet

    x, y = _images(16, 32), torch.arange(16) % 3
    trigger = gaussian_trigger("t", 32, 0.05, SEED)
    poison = build_poison_set(x, trigger, "fc", 2, 2, {"jpeg": 50}, torch.Generator().manual_seed(SEED))
    torch.manual_seed(SEED)
    net = SmallResNet(3, width=4, blocks=(1, 1, 1, 1)).to(device)
    info = train_classifier(net, x, y, epochs=1, batch_size=8, lr=0.01, milestones=[], momentum=0.9,
                            weight_decay=5e-4, generator=torch.Generator().manual_seed(SEED), poison=poison,
                            method="fc", target=0)
    with torch.no_grad():
        logits = net(trigger.apply(x[:4]).to(device))
    return {"losses": ("series", _series(info["history"], ["loss", "fc"])), "logits": ("series", logits)}


def check_backdoor_lic(device):
    from advcompress.backdoor.lic_trigger import finetune_encoder

    codec = _codec(device)
    torch.manual_seed(SEED)
    info = finetune_encoder(codec, _sampler(), {"bpp": {"alpha": 1.0, "beta": 1.0}}, steps=2, batch_size=2,
                            lr=1e-4, trigger_lr=1e-3, gamma=1.0, proxy="noise",
                            trigger_cfg={"block": 16, "n_freq": 16, "k": 4, "eps": 0.01, "hidden": 4})
    x = _images(1, 64).to(device)
    with torch.no_grad():
        triggered = info["triggers"]["bpp"](x)
    return {"losses": ("series", _series(info["history"], ["loss", "loss_bpp", "bpp_triggered"])),
            "triggered": ("image", triggered), "x_hat": ("image", _eval_out(codec, triggered))}


CHECKS = [
    Check("train-codec", check_train, 1e-3),
    Check("srda", check_srda, 1e-3),
    Check("arda", check_arda, 1e-3),
    Check("adversarial-training", check_at, 1e-3),
    Check("online-updating", check_online, 1e-3),
    Check("classify-ifgsm-jpeg", check_classify_jpeg, 1e-3),
    Check("classify-ifgsm-learned", check_classify_learned, 1e-3),
    Check("backdoor-classifier", check_backdoor_classifier, 1e-3),
    Check("backdoor-lic", check_backdoor_lic, 1e-3),
]


# -- comparison ----------------------------------------------------------------------------------


def run_check(check: Check, device: torch.device) -> dict[str, tuple[str, torch.Tensor]]:
    """One run of a check on `device`, from the seed; results on the CPU."""
    torch.manual_seed(SEED)
    with same_draws_everywhere():
        out = check.run(device)
    return {k: (kind, t.detach().to("cpu", torch.float64)) for k, (kind, t) in out.items()}


def difference(kind: str, ref: torch.Tensor, got: torch.Tensor) -> float:
    if ref.shape != got.shape:
        return float("inf")
    if not (torch.isfinite(ref) == torch.isfinite(got)).all():
        return float("inf")
    ref, got = torch.nan_to_num(ref), torch.nan_to_num(got)
    d = (ref - got).abs()
    if kind == "series":
        return to_python(d.max() / ref.abs().max().clamp_min(1.0)) if d.numel() else 0.0
    return to_python(d.mean() / ref.abs().mean().clamp_min(1.0)) if d.numel() else 0.0


def selfcheck(target: torch.device, names: list[str] | None = None, echo=print) -> bool:
    """Run the checks (all, or `names`), echo one line each; True when every one is within tolerance."""
    checks = CHECKS if not names else [c for c in CHECKS if c.name in names]
    unknown = sorted(set(names or []) - {c.name for c in CHECKS})
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; choose from {[c.name for c in CHECKS]}")
    cpu = torch.device("cpu")
    echo(f"selfcheck: {target} against cpu, seed {SEED}")
    ok_all = True
    for check in checks:
        t0 = time.perf_counter()
        ref, got = run_check(check, cpu), run_check(check, target)
        diffs = {k: difference(kind, t, got[k][1]) for k, (kind, t) in ref.items()}
        worst = max(diffs, key=diffs.get)
        ok = diffs[worst] <= check.tolerance
        ok_all &= ok
        echo(f"{check.name:<24} diff {diffs[worst]:.2e} ({worst})  tol {check.tolerance:.0e}  "
             f"{'ok' if ok else 'MISMATCH'}  [{time.perf_counter() - t0:.1f} s]")
    return ok_all
