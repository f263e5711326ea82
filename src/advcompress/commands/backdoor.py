"""Backdoor study commands: the compression-resistant classifier backdoor and the backdoored LIC
encoder (issue 6). Each command is one workflow job; the science lives in advcompress.backdoor."""

from __future__ import annotations

import logging
from pathlib import Path

from advcompress.cli import LEARNED_CODECS, add_codec_ckpt, codec_ckpt, registry_names, settings_of
from advcompress.codecs import make_codec_from_settings
from advcompress.errors import UserError

log = logging.getLogger("advcompress")


def _setup(a) -> tuple[dict, object]:
    from advcompress.device import seed_everything, set_threads

    s = settings_of(a)
    set_threads(a.threads or 1)
    return s, seed_everything(int(s.get("seed", 0)))


def _classifier(s: dict, device):
    from advcompress.classifiers import build

    c = s["classifier"]
    return build({"kind": c["arch"], "num_classes": 10, **{k: c[k] for k in ("width", "blocks", "scale") if k in c}}).to(device)


def _train_kwargs(s: dict, phase: str, run: dict | None = None) -> dict:
    """SGD settings of one phase; a backdoor run brings its own epochs and initial lr (Tables 9, 10)."""
    c = s["classifier"]
    p = {**c[phase], **({"epochs": run["epochs"], "lr": run["lr"]} if run else {})}
    return {"epochs": int(p["epochs"]), "batch_size": int(c["batch_size"]), "lr": float(p["lr"]),
            "milestones": [int(m) for m in p["milestones"]], "momentum": float(c["momentum"]),
            "weight_decay": float(c["weight_decay"])}


# -- classifier backdoor ----------------------------------------------------------------------


def cmd_photos(a) -> None:
    """The photo-patch classification task (backdoor.dataset: photos) from the bundled photographs."""
    from advcompress.backdoor.datasets import prepare_photo_patches

    s = settings_of(a)
    manifest = prepare_photo_patches(a.out, s["photos"], int(s.get("seed", 0)))
    log.info("photo patches: %s", {k: v for k, v in manifest.items() if k != "files"})


def cmd_clean_classifier(a) -> None:
    from advcompress.backdoor.compression_resistant import train_classifier
    from advcompress.backdoor.datasets import load_split
    from advcompress.classifiers import accuracy, save_classifier
    from advcompress.device import pick_device

    s, g = _setup(a)
    device = pick_device(s.get("device", "auto"))
    x, y = load_split(a.digits, "train")
    xt, yt = load_split(a.digits, "test")
    net = _classifier(s, device)
    summary = train_classifier(net, x, y, generator=g, **_train_kwargs(s, "clean"))
    hits, n = accuracy(net, xt, yt)
    log.info("clean classifier: test accuracy %d/%d", hits, n)
    save_classifier(net, a.out, {"test_accuracy": hits / n, **summary})
    if a.table:
        import pandas as pd

        from advcompress.io import write_table

        # The reference TA of Table 4 in the runs' long format, so claims compare it like any run's.
        write_table(a.table, pd.DataFrame([{"run": "clean", "arch": s["classifier"]["arch"], "method": "clean", "trigger": "",
                                            "metric": "ta",
                                            "codec": "none", "quality": "", "hits": hits, "n": n,
                                            "rate": hits / n, "note": ""}]))


def cmd_trigger(a) -> None:
    """Build one trigger and the test images every run of it is evaluated on (compressed for real)."""
    import torch

    from advcompress.backdoor.compression_resistant import codec_unavailable, compress_images
    from advcompress.backdoor.datasets import load_split
    from advcompress.backdoor.triggers import make_trigger
    from advcompress.classifiers import load_classifier
    from advcompress.data import save_png
    from advcompress.io import atomic_path

    s, _ = _setup(a)
    xt, yt = load_split(a.digits, "test")
    if a.trigger not in s["triggers"]:
        raise UserError(f"--trigger {a.trigger!r} is not in the settings' triggers: {', '.join(s['triggers'])}")
    spec = s["triggers"][a.trigger]
    net = load_classifier(a.classifier) if spec["kind"] == "trojannn" else None
    trig = make_trigger(a.trigger, spec, xt.shape[-1], int(s.get("seed", 0)), net)
    keep = yt != int(s["target_class"])
    xb = trig.apply(xt[keep])
    sets, notes = {"none": xb}, {}
    conditions = [(c, q) for c, q in s["test_codecs"].items()] + [("jpeg", q) for q in s["jpeg_sweep"]]
    for codec, q in dict.fromkeys(conditions):
        why = codec_unavailable(codec, q)
        key = f"{codec}@{q}"
        if why:
            log.warning("%s unavailable: %s", key, why)
            notes[key] = why
            continue
        sets[key] = compress_images(xb, codec, q)
    blob = {"trigger": trig.state(), "labels": yt[keep],
            "sets": {k: (v * 255).round().to(torch.uint8) for k, v in sets.items()},
            "unavailable": notes}
    with atomic_path(a.out) as tmp:
        torch.save(blob, tmp)
    save_png(torch.cat([xt[:4], xb[:4]], dim=-1)[:1], a.preview)


def cmd_train(a) -> None:
    """Poison, train from the clean classifier, and evaluate one backdoor run (long-form rows)."""
    import pandas as pd

    from advcompress.backdoor.compression_resistant import (
        attack_success,
        build_poison_set,
        train_classifier,
    )
    from advcompress.backdoor.datasets import load_split
    from advcompress.backdoor.triggers import Trigger
    from advcompress.classifiers import accuracy, load_classifier, save_classifier
    from advcompress.codecs.base import load_blob
    from advcompress.device import pick_device
    from advcompress.io import write_table

    s, g = _setup(a)
    run = s["run"]  # this run's spec (backdoor.runs.plan_runs), so a sweep's other runs leave it alone
    device = pick_device(s.get("device", "auto"))
    x, y = load_split(a.digits, "train")
    xt, yt = load_split(a.digits, "test")
    blob = load_blob(a.trigger)
    trig = Trigger.from_state(blob["trigger"])
    n = len(x)
    n_normal = round(run["normal_fraction"] * n)
    n_comp = round(run["compressed_fraction"] * n)
    poison = build_poison_set(x, trig, run["method"], n_normal, n_comp, run["train_codecs"], g)
    net = load_classifier(a.classifier, device=device)
    target = int(s["target_class"])
    summary = train_classifier(net, x, y, generator=g, poison=poison, method=run["method"], target=target,
                               alpha=run["alpha"], lambda1=float(s["lambda1"]), lambda2=float(s["lambda2"]),
                               **_train_kwargs(s, "backdoor", run))
    meta = {k: v for k, v in run.items() if k != "study"}
    base = {"run": a.run, "arch": run["arch"], "method": run["method"], "trigger": run["trigger"],
            "epochs": run["epochs"], "lr": run["lr"], "alpha": run["alpha"],
            "ir": poison.injection_rate, "n_clean": n, "n_backdoor": poison.n_backdoor,
            "train_codecs": "+".join(run["train_codecs"]) if run["method"] != "common" else "none"}
    hits, total = accuracy(net, xt, yt)
    rows = [{**base, "metric": "ta", "codec": "none", "quality": "", "hits": hits, "n": total,
             "rate": hits / total, "note": ""}]
    for key, imgs in blob["sets"].items():
        codec, _, q = key.partition("@")
        h, m = attack_success(net, imgs.float() / 255, target)
        rows.append({**base, "metric": "asr", "codec": codec, "quality": q, "hits": h, "n": m,
                     "rate": h / m if m else float("nan"), "note": ""})
    for key, why in blob["unavailable"].items():
        codec, _, q = key.partition("@")
        rows.append({**base, "metric": "asr", "codec": codec, "quality": q, "hits": 0, "n": 0,
                     "rate": float("nan"), "note": f"encoder unavailable: {why}"})
    write_table(a.table, pd.DataFrame(rows))
    save_classifier(net, a.out, {**meta, **summary, "ir": poison.injection_rate})


def cmd_table(a) -> None:
    from advcompress.backdoor.tables import TABLES

    TABLES.draw_files(a.kind, a.inputs, settings_of(a), a.out_csv, a.out_md)


def cmd_figure(a) -> None:
    from advcompress.backdoor.figures import FIGURES

    FIGURES.draw_files(a.kind, a.inputs, settings_of(a), a.out)


# -- LIC encoder backdoor ---------------------------------------------------------------------


def cmd_lic_train(a) -> None:
    from advcompress.backdoor.datasets import load_split
    from advcompress.backdoor.lic_trigger import finetune_encoder, save_backdoor
    from advcompress.classifiers import load_classifier
    from advcompress.data import load_image_folder
    from advcompress.foundation.train import PatchSampler
    from advcompress.io import write_json

    s, g = _setup(a)
    lic = s["lic"]
    codec = make_codec_from_settings(a.model, a.quality, s["codec"], codec_ckpt(a, a.model, a.quality, required=True))
    device = next(codec.parameters()).device
    _, images = load_image_folder(a.train_dir, as_uint8=True)
    sampler = PatchSampler(images, int(lic["patch"]), g)
    xa, _ = load_split(a.digits, "train")
    classifier = load_classifier(a.classifier, device=device) if "ds" in lic["objectives"] else None
    target = int(lic["ds_target"])
    if "seg" in s:  # Table 1 stand-in: the ds objective on training mosaics with per-pixel targets
        xa, target, classifier = _seg_task(s, a.digits, "train", classifier)
    out = finetune_encoder(
        codec, sampler, lic["objectives"], steps=int(lic["steps"]), batch_size=int(lic["batch_size"]),
        lr=float(lic["lr"]), trigger_lr=float(lic["trigger_lr"]), gamma=float(lic["gamma"]),
        trigger_cfg=lic["trigger"], proxy=lic["proxy"], aux_images=xa, classifier=classifier,
        target=target, generator=g, curriculum=lic.get("curriculum"),
    )
    meta = {"model": a.model, "quality": a.quality, "settings": lic, "frozen_outside_g_a": "verified identical"}
    save_backdoor(a.out, codec, out["triggers"], meta)
    write_json(Path(a.out).with_suffix(".json"), {**meta, "history": out["history"]})


def _seg_task(s: dict, digits, split: str, classifier):
    """(mosaics, their wanted label maps, the block segmenter) of the segmentation stand-in on one split."""
    from advcompress.backdoor.segmentation import BlockSegmenter, retarget, split_mosaics

    seg = s["seg"]
    images, labels, _ = split_mosaics(digits, split, seg, int(s.get("seed", 0)))
    wanted = retarget(labels, int(seg["source"]), int(seg["target"])) if split == "train" else labels
    return images, wanted, BlockSegmenter(classifier, images.shape[-1] // int(seg["grid"]))


def cmd_lic_seg_eval(a) -> None:
    """Table 1 stand-in: the segmentation-backdoored encoder on the test mosaics (backdoor.segmentation)."""
    import pandas as pd

    from advcompress.backdoor import lic_eval
    from advcompress.classifiers import load_classifier
    from advcompress.io import write_table

    s, _ = _setup(a)
    original, codec, triggers = lic_eval.load_backdoored(a.model, a.quality, s["codec"],
                                                         codec_ckpt(a, a.model, a.quality, required=True), a.backdoored)
    device = next(codec.parameters()).device
    images, labels, segmenter = _seg_task(s, a.digits, "test", load_classifier(a.classifier, device=device))
    base = {"model": a.model, "quality": a.quality, "method": triggers["ds"].config.get("kind", "frequency")}
    rows = lic_eval.seg_rows(base, original, codec, triggers["ds"], images.to(device), labels.to(device), segmenter,
                             int(s["seg"]["source"]), int(s["seg"]["target"]))
    write_table(a.out, pd.DataFrame(rows))


def cmd_lic_eval(a) -> None:
    import pandas as pd

    from advcompress.backdoor import lic_eval
    from advcompress.io import write_table

    s, _ = _setup(a)
    clean = codec_ckpt(a, a.model, a.quality, required=True)
    tables = lic_eval.evaluate(a.model, a.quality, s, clean, a.backdoored, a.eval_dir, a.digits, a.classifier,
                               a.example_dir)
    for name, path in [("rd", a.out_rd), ("ds", a.out_ds), ("defense", a.out_defense),
                       ("amplified", a.out_amplified)]:
        write_table(path, pd.DataFrame(tables[name]))


# The CLI's choices: the registries of both backdoor studies (backdoor.tables, backdoor.figures; torch-free).
TABLES = registry_names("backdoor table", "advcompress.backdoor.tables", "TABLES", "KIND")
FIGURES = registry_names("backdoor figure", "advcompress.backdoor.figures", "FIGURES", "KIND")


def register(add) -> None:
    digits = "the classification dataset folder (digits, backdoor-photos or cifar10)"
    sp = add("backdoor-photos", cmd_photos)
    sp.add_argument("--out", required=True, help="output: folder of the photo-patch task (photos.npz, manifest)")

    sp = add("backdoor-clean-classifier", cmd_clean_classifier)
    sp.add_argument("--digits", required=True, help=digits)
    sp.add_argument("--out", required=True, help="output: the clean classifier (.pt)")
    sp.add_argument("--table", help="also write its test accuracy as a long-table row (method clean, metric ta)")

    sp = add("backdoor-trigger", cmd_trigger)
    sp.add_argument("--trigger", required=True, help="name of a trigger in the settings' triggers")
    sp.add_argument("--digits", required=True, help=digits)
    sp.add_argument("--classifier", required=True, help="the clean classifier (a trojannn trigger is built on it)")
    sp.add_argument("--out", required=True, help="output: the trigger and its compressed test sets (.pt)")
    sp.add_argument("--preview", required=True, help="output: clean and triggered test digits side by side (PNG)")

    sp = add("backdoor-train", cmd_train)
    sp.add_argument("--run", required=True, help="name of the run (the settings' run holds its spec)")
    sp.add_argument("--digits", required=True, help=digits)
    sp.add_argument("--classifier", required=True, help="the clean classifier to start from")
    sp.add_argument("--trigger", required=True, help="the run's trigger file (backdoor-trigger --out)")
    sp.add_argument("--out", required=True, help="output: the backdoored classifier (.pt)")
    sp.add_argument("--table", required=True, help="output: the run's TA and ASR rows (CSV)")

    sp = add("backdoor-table", cmd_table)
    sp.add_argument("inputs", nargs="+", help="run rows (backdoor-train --table) or LIC rows (backdoor-lic-eval)")
    sp.add_argument("--kind", required=True, choices=TABLES,
                    help="which paper table (backdoor.tables: table4, ..., lic_table3, lic_table5)")
    sp.add_argument("--out-csv", required=True, help="output: the table with numeric _lo/_hi columns (CSV)")
    sp.add_argument("--out-md", required=True, help="output: the table as Markdown")

    sp = add("backdoor-figure", cmd_figure)
    sp.add_argument("inputs", nargs="+",
                    help="run rows (backdoor-train --table), LIC rows (backdoor-lic-eval; lic_fig6: its --example-dir)")
    sp.add_argument("--kind", required=True, choices=FIGURES, help="which paper figure (backdoor.figures)")
    sp.add_argument("--out", required=True, help="output: the figure (.pdf or .png)")

    def lic_command(name, fn, args):
        """An LIC backdoor command: the model, its clean checkpoint, and `args` (flag, help), all required."""
        sp = add(name, fn)
        sp.add_argument("--model", required=True, choices=LEARNED_CODECS, help="learned codec whose encoder is backdoored")
        add_codec_ckpt(sp, "the codec's clean checkpoint, as MODEL@QUALITY=PATH")
        for k, what in [("--quality", "quality level of the codec"), *args]:
            sp.add_argument(k, required=True, help=what)

    lic_command("backdoor-lic-train", cmd_lic_train, [
        ("--train-dir", "folder of training images (prepare-data)"),
        ("--digits", digits),
        ("--classifier", "the clean digits classifier (for the ds objective)"),
        ("--out", "output: the backdoored codec and its triggers (.pt), history beside it (.json)")])
    lic_command("backdoor-lic-seg-eval", cmd_lic_seg_eval, [
        ("--backdoored", "the segmentation-backdoored codec (backdoor-lic-train with the settings' seg)"),
        ("--digits", digits),
        ("--classifier", "the clean classifier, applied to every tile of a mosaic"),
        ("--out", "output: one row per test mosaic x encoder x input (CSV)")])
    lic_command("backdoor-lic-eval", cmd_lic_eval, [
        ("--backdoored", "the backdoored codec and triggers (backdoor-lic-train --out)"),
        ("--eval-dir", "folder of evaluation images (prepare-data)"),
        ("--digits", digits),
        ("--classifier", "the clean digits classifier"),
        ("--out-rd", "output: rate and distortion rows of clean and triggered images (CSV)"),
        ("--out-ds", "output: the classifier's predictions on decoded digits (CSV)"),
        ("--out-defense", "output: rows of every input coded after each input-side defense (CSV)"),
        ("--out-amplified", "output: rows of each photo trigger amplified (settings' amplify) "
                            "and coded after each of its defenses (CSV)"),
        ("--example-dir", "output: folder of example images for the example figure")])
