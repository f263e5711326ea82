"""Classifier study commands: train the digits CNN, attack through defenses, tables and figures."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from advcompress.cli import CODECS, add_codec_ckpt, codec_ckpt, registry_names, settings_of
from advcompress.codecs import make_codec_from_settings

log = logging.getLogger("advcompress")


def _setup(a) -> dict:
    from advcompress.device import seed_everything, set_threads

    s = settings_of(a)
    set_threads(a.threads)
    seed_everything(int(s.get("seed", 0)))
    return s


def _device(s):
    from advcompress.device import pick_device

    return pick_device(s.get("device", "auto"))


def _eval_set(a, s, device):
    from advcompress.classify.datasets import load_eval_set

    d = s["data"]
    x, y = load_eval_set(d["kind"], a.data_dir, d.get("images"), int(s.get("seed", 0)), int(d.get("size", 224)),
                         d.get("resize"))
    return x.to(device), y.to(device)


def _classifier(a, s, device):
    from advcompress.classifiers import load_classifier

    return load_classifier(a.net_ckpt, s["net"], device)


def _codec_factory(a, s):
    """`make(name, quality)` for defenses: checkpoints come as `--codec-ckpt name@q=path`."""
    codec_settings = s.get("codecs", {})

    def make(name, quality):
        codec = make_codec_from_settings(name, quality, codec_settings.get(name, {}), codec_ckpt(a, name, quality))
        return codec.eval() if codec.differentiable else codec

    return make


def _precomputed(path, device) -> dict:
    """classify-adv's images, through the checkpoint guard (weights_only, one-line error)."""
    from advcompress.codecs.base import load_blob

    return {k: v.to(device) for k, v in load_blob(path).items()}


def cmd_train(a) -> None:
    from advcompress.classifiers import accuracy, save_classifier
    from advcompress.classify.training import train_small_cnn
    from advcompress.data import load_digits_split
    from advcompress.device import seed_everything
    from advcompress.io import write_json

    s = _setup(a)
    g = seed_everything(int(s.get("seed", 0)))
    x, y = load_digits_split(a.data_dir, "train")
    xt, yt = load_digits_split(a.data_dir, "test")
    model, info = train_small_cnn(x, y, s["train"], g)
    hits, n = accuracy(model, xt, yt)
    acc = hits / n
    log.info("digits CNN: clean test accuracy %.4f on %d images", acc, len(yt))
    meta = {"test_accuracy": acc, "n_test": len(yt), "settings": s, **info}
    save_classifier(model, a.out, {"test_accuracy": acc})
    write_json(Path(a.out).with_suffix(".json"), meta)


def cmd_fetch_classifier(a) -> None:
    from advcompress.classifiers import TORCHVISION_WEIGHTS
    from advcompress.download import fetch_url, name_hash_prefix
    from advcompress.errors import DataError

    url = TORCHVISION_WEIGHTS.get(a.arch)
    if url is None:
        raise DataError(f"no known download for {a.arch}; place its state dict at {a.out}")
    # torchvision names its files <arch>-<first 8 hex digits of their SHA-256>.pth.
    fetch_url(url, a.out, f"sha256:{name_hash_prefix(url)}")


def cmd_adv(a) -> None:
    """Adversarial images of an attack on the classifier alone (through = false), once per attack."""
    import torch

    from advcompress.classify.attacks import get_attack, run_attack
    from advcompress.io import atomic_path
    from advcompress.metrics import quantize_8bit

    s = _setup(a)
    device = _device(s)
    x, y = _eval_set(a, s, device)
    clf = _classifier(a, s, device)
    eps_list = s["eps_255"] if get_attack(a.attack).norm == "linf" else [float("nan")]
    advs = {}
    for eps in eps_list:
        e = 0.0 if eps != eps else eps / 255
        advs[str(eps)] = quantize_8bit(run_attack(a.attack, clf, x, y, e, s.get("attack"), s["batch_size"])).cpu()
    with atomic_path(a.out) as tmp:
        torch.save(advs, tmp)


def cmd_attack(a) -> None:
    import pandas as pd

    from advcompress.classify.defenses import Defense
    from advcompress.classify.evaluate import attack_rows
    from advcompress.io import write_table

    s = _setup(a)
    device = _device(s)
    x, y = _eval_set(a, s, device)
    clf = _classifier(a, s, device)
    defense = Defense(a.defense, _codec_factory(a, s))
    pre = _precomputed(a.adv, device) if a.adv else None
    rows = attack_rows(clf, defense, a.attack, x, y, s["eps_255"], s["through"], s.get("attack"),
                       s["batch_size"], meta={"net": a.net}, precomputed=pre,
                       attack_batch_size=s.get("attack_batch_size"))
    write_table(a.out, pd.DataFrame(rows))


def cmd_bpp(a) -> None:
    """Every configured codec at every quality on the evaluation images: rate and clean accuracy."""
    import pandas as pd
    import torch

    from advcompress.classifiers import predict
    from advcompress.classify.defenses import Defense
    from advcompress.device import to_numpy
    from advcompress.io import write_table
    from advcompress.metrics import mse255, psnr_from_mse255, quantize_8bit

    s = _setup(a)
    device = _device(s)
    x, y = _eval_set(a, s, device)
    x = quantize_8bit(x)
    clf = _classifier(a, s, device)
    make = _codec_factory(a, s)
    rows = []
    for spec in s["defenses"]:
        d = Defense(spec, make)
        xd, infos = d.apply(x, s["batch_size"])
        m = mse255(xd, x)
        m_np, psnr_np, correct_np = to_numpy(torch.stack([m, psnr_from_mse255(m), (predict(clf, xd) == y).double()]))
        step = d.steps[0]
        for i, info in enumerate(infos):
            rows.append({"net": a.net, "defense": spec, "codec": step.codec, "quality": step.quality,
                         "image": i, "bpp_actual": info["bpp_actual"], "mse255": float(m_np[i]),
                         "psnr_db": float(psnr_np[i]), "correct": float(correct_np[i]), "error": info["error"]})
    write_table(a.out, pd.DataFrame(rows))


def cmd_overhead(a) -> None:
    import pandas as pd

    from advcompress.classify.defenses import Defense
    from advcompress.classify.evaluate import time_defense
    from advcompress.io import write_table

    s = _setup(a)
    device = _device(s)
    x, _ = _eval_set(a, s, device)
    clf = _classifier(a, s, device)
    make = _codec_factory(a, s)
    rows = [{"net": a.net, "device": str(device), **time_defense(clf, Defense(spec, make), x)}
            for spec in s["defenses"]]
    write_table(a.out, pd.DataFrame(rows))


def _attacked(a, s, device, clf, x, y, attack: str, eps_255: float):
    """The 8-bit adversarial images of `attack` (at eps_255 for an L-inf one): classify-adv's when
    the rule passes them (same attack and images; an L2 attack's are stored under "nan"), else computed."""
    from advcompress.classify.attacks import get_attack, run_attack
    from advcompress.metrics import quantize_8bit

    linf = get_attack(attack).norm == "linf"
    pre = _precomputed(a.adv, device) if a.adv else {}
    key = str(eps_255) if linf else "nan"
    if key in pre:
        return quantize_8bit(pre[key])
    return quantize_8bit(run_attack(attack, clf, x, y, eps_255 / 255 if linf else 0.0, s.get("attack"),
                                    s["batch_size"]))


def _under_attack(a, section: str):
    """(settings, images, labels, classifier, 8-bit adversarial images) of the attack and eps that
    the settings' `section` names."""
    s = _setup(a)
    device = _device(s)
    x, y = _eval_set(a, s, device)
    clf = _classifier(a, s, device)
    return s, x, y, clf, _attacked(a, s, device, clf, x, y, s[section]["attack"], s[section]["eps_255"])


def cmd_adaptive(a) -> None:
    """JPEG vs saliency vs augmented-saliency JPEG under the settings' attack (Table 1; Fig. 6 per attack)."""
    import pandas as pd
    import torch

    from advcompress.classify.adaptive_jpeg import compare_adaptive
    from advcompress.io import atomic_path, write_table

    s, x, y, clf, adv = _under_attack(a, "adaptive")
    ad = s["adaptive"]
    rows, examples = compare_adaptive(clf, x, adv, y, ad, seed=int(s.get("seed", 0)))
    write_table(a.out, pd.DataFrame([{"net": a.net, "attack": ad["attack"], **r} for r in rows]))
    if a.examples:
        with atomic_path(a.examples) as tmp:
            torch.save({k: v[: ad["examples"]].cpu() for k, v in examples.items()}, tmp)


def cmd_adaptive_quality(a) -> None:
    """Plain JPEG at every quality of the sweep on clean and adversarial images (adaptive JPEG, Fig. 2a)."""
    import pandas as pd

    from advcompress.classify.adaptive_jpeg import jpeg_quality_sweep
    from advcompress.io import write_table

    s, x, y, clf, adv = _under_attack(a, "sweep")
    sw = s["sweep"]
    rows = jpeg_quality_sweep(clf, x, adv, y, sw["qualities"])
    write_table(a.out, pd.DataFrame([{"net": a.net, "attack": sw["attack"], "eps_255": sw["eps_255"], **r}
                                     for r in rows]))


def cmd_cycles(a) -> None:
    """The same images after N real compression cycles of each defense (human-aligned defense, Fig. 1)."""
    import torch

    from advcompress.classify.defenses import compression_cycles
    from advcompress.io import atomic_path
    from advcompress.metrics import quantize_8bit

    s = _setup(a)
    device = _device(s)
    x, _ = _eval_set(a, s, device)
    x = quantize_8bit(x)
    images = compression_cycles(s["defenses"], _codec_factory(a, s), x, int(s["rounds"]))
    with atomic_path(a.out) as tmp:
        torch.save({"original": x.cpu(), "rounds": int(s["rounds"]), "defenses": list(images),
                    "images": {k: v.cpu() for k, v in images.items()}}, tmp)


# The CLI's choices: the study's registries (classify.tables, classify.figures; torch-free).
TABLES = registry_names("classify table", "advcompress.classify.tables", "TABLES", "KIND")
FIGURES = registry_names("classify figure", "advcompress.classify.figures", "FIGURES", "KIND")
ATTACKS = registry_names("classifier attack", "advcompress.classify.attacks", "ATTACKS", "ATTACK")
ARCHS = registry_names("torchvision architecture", "advcompress.classifiers", "TORCHVISION_WEIGHTS", "ARCH")


def defense_spec(text: str) -> str:
    """`--defense`: a spec classify.defenses parses, naming registered codecs; checked when parsed."""
    from advcompress.classify.defenses import parse_defense

    try:
        steps = parse_defense(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    for step in steps:
        if step.codec not in CODECS:
            raise argparse.ArgumentTypeError(CODECS.unknown(step.codec))
    return text


def cmd_tables(a) -> None:
    from advcompress.classify.tables import TABLES

    TABLES.draw_files(a.kind, a.inputs, settings_of(a), a.out_csv, a.out_md)


def cmd_figure(a) -> None:
    from advcompress.classify.figures import FIGURES

    FIGURES.draw_files(a.kind, a.inputs, settings_of(a), a.out)


def register(add) -> None:
    def common(sp):
        sp.add_argument("--data-dir", required=True, help="evaluation images (the settings' data.kind says which)")
        sp.add_argument("--net", required=True, help="name of the classifier (its spec is in the settings)")
        sp.add_argument("--net-ckpt", required=True, help="weights of the classifier")
        add_codec_ckpt(sp, "checkpoint of a learned codec a defense uses (repeatable)")
        sp.add_argument("--out", required=True, help="output file")

    sp = add("classify-train", cmd_train)
    sp.add_argument("--data-dir", required=True, help="the digits dataset (prepare-data, kind digits)")
    sp.add_argument("--out", required=True, help="output: the classifier (.pt), with its summary beside it (.json)")

    sp = add("classify-fetch-classifier", cmd_fetch_classifier)
    sp.add_argument("--arch", required=True, choices=ARCHS, help="torchvision architecture whose weights to fetch")
    sp.add_argument("--out", required=True, help="output: the state dict")

    sp = add("classify-adv", cmd_adv)
    common(sp)
    sp.add_argument("--attack", required=True, choices=ATTACKS, help="attack on the classifier")

    sp = add("classify-attack", cmd_attack)
    common(sp)
    sp.add_argument("--attack", required=True, choices=ATTACKS, help="attack on the classifier")
    sp.add_argument("--defense", required=True, type=defense_spec, metavar="SPEC",
                    help="defense spec: none, or <codec>@<quality>[x<rounds>] steps joined by +")
    sp.add_argument("--adv", help="precomputed through=false adversarial images (classify-adv)")

    sp = add("classify-bpp", cmd_bpp)
    common(sp)
    sp = add("classify-overhead", cmd_overhead)
    common(sp)

    sp = add("classify-adaptive", cmd_adaptive)
    common(sp)
    sp.add_argument("--examples", help="output: example images of each method (.pt); the main attack's job writes them")
    sp.add_argument("--adv", help="classify-adv's images of the adaptive attack, when they match")

    sp = add("classify-adaptive-quality", cmd_adaptive_quality)
    common(sp)
    sp.add_argument("--adv", help="classify-adv's images of the adaptive attack, when they match")

    sp = add("classify-cycles", cmd_cycles)
    sp.add_argument("--data-dir", required=True, help="evaluation images (the settings' data.kind says which)")
    add_codec_ckpt(sp, "checkpoint of a learned codec a defense uses (repeatable)")
    sp.add_argument("--out", required=True, help="output: original and cycled images (.pt)")

    for name, fn, kinds in [("classify-table", cmd_tables, TABLES), ("classify-figure", cmd_figure, FIGURES)]:
        sp = add(name, fn)
        sp.add_argument("kind", choices=kinds, help="which table" if name == "classify-table" else "which figure")
        sp.add_argument("inputs", nargs="+", help="the study's long rows (adaptive-example: the examples .pt)")
        if name == "classify-table":
            sp.add_argument("--out-csv", required=True, help="output: the table with numeric _lo/_hi columns (CSV)")
            sp.add_argument("--out-md", required=True, help="output: the table as Markdown")
        else:
            sp.add_argument("--out", required=True, help="output: the figure (.pdf or .png)")
