"""Foundation commands: datasets, training, clean compression, the RD table and figure."""

from __future__ import annotations

import logging
from pathlib import Path

from advcompress.cli import ARCHITECTURES, CODECS, add_codec_ckpt, codec_ckpt, settings_of
from advcompress.codecs import make_codec_from_settings

log = logging.getLogger("advcompress")


def cmd_prepare_data(a) -> None:
    from advcompress import data

    s = settings_of(a)
    kind = s["kind"]
    if kind in ("bundled", "skimage"):
        data.prepare_skimage_photos(a.out, s["images"], s.get("short_side"), s.get("crop"), s.get("tiles", 1))
    elif kind == "digits":
        data.prepare_digits(a.out, s.get("size", 32), s.get("test_fraction", 0.25), s.get("seed", 0))
    elif kind == "fetch":
        data.fetch_dataset(a.out, s, s.get("cache", "data/downloads"))
    else:
        raise data.DataError(f"unknown dataset kind {kind!r}")
    log.info("wrote %s", a.out)


def cmd_train_lic(a) -> None:
    from advcompress.codecs.learned import load_learned_codec, save_checkpoint
    from advcompress.data import load_image_folder
    from advcompress.device import pick_device, seed_everything, set_threads
    from advcompress.foundation.train import PatchSampler, train_codec
    from advcompress.io import write_json

    s = settings_of(a)
    set_threads(a.threads)
    g = seed_everything(int(s.get("seed", 0)))
    qualities = [int(q) for q in s["qualities"]]
    init = a.init if a.init else None
    codec = load_learned_codec(
        a.model,
        qualities[0],
        weights="trained" if init else "untrained",
        checkpoint=init,
        widths=s.get("widths"),
        device=pick_device(s.get("device", "auto")),
    )
    _, images = load_image_folder(a.train_dir, as_uint8=True)
    sampler = PatchSampler(images, int(s["patch"]), g)
    summary = train_codec(
        codec,
        sampler,
        qualities,
        steps=int(s["steps"]),
        batch_size=int(s["batch_size"]),
        lr=float(s["lr"]),
        aux_lr=float(s.get("aux_lr", 1e-3)),
        progress=not a.no_progress,
        top_level_first=float(s.get("variable_rate_top_first", 0.0)),
    )
    meta = {"model": a.model, "qualities": qualities, "settings": s, "init": init, **summary}
    save_checkpoint(codec, a.out, {k: v for k, v in meta.items() if k != "history"})
    write_json(Path(a.out).with_suffix(".json"), meta)
    log.info("%s q%s: final loss %.4f, %.3f bpp, %.2f dB on training patches",
             a.model, qualities, summary["final_loss"], summary["final_bpp"], summary["final_psnr_db"])


def cmd_fetch_weights(a) -> None:
    from advcompress.codecs.learned import architecture
    from advcompress.download import fetch_url, name_hash_prefix
    from advcompress.errors import DataError

    arch = architecture(a.model)
    quality = int(a.quality) if str(a.quality).isdigit() else 0
    url = arch.pretrained_url(quality) if arch.pretrained_url else None
    # CompressAI names its files <name>-<first 8 hex digits of their SHA-256>.pth.tar: a pinned hash.
    prefix = name_hash_prefix(url) if url else None
    if not prefix:
        where = url or arch.source
        raise DataError(
            f"{a.model} q{a.quality}: the official checkpoint has no direct download; get it from {where} "
            f"(see docs/codecs/{a.model}.md) and place it at {a.out}"
        )
    fetch_url(url, a.out, f"sha256:{prefix}")


def cmd_compress(a) -> None:
    import pandas as pd
    import torch

    from advcompress.data import load_image_folder, save_png
    from advcompress.device import set_threads
    from advcompress.evaluate import code_image
    from advcompress.io import write_table

    s = settings_of(a)
    set_threads(a.threads)
    torch.manual_seed(0)
    codec = make_codec_from_settings(a.codec, a.quality, s, codec_ckpt(a, a.codec, a.quality))
    names, images = load_image_folder(a.eval_dir)
    rows = []
    device = next(codec.parameters()).device if codec.differentiable else "cpu"
    for name, x in zip(names, images, strict=True):
        row, x_hat = code_image(codec, x.to(device))
        rows.append({"image": name, "codec": a.codec, "family": codec.family, "quality": a.quality, **row})
        if a.recon_dir and x_hat is not None:
            save_png(x_hat, Path(a.recon_dir) / f"{name}.png")
    write_table(a.out, pd.DataFrame(rows))


def cmd_rd_table(a) -> None:
    from advcompress.foundation.tables import rd_table
    from advcompress.io import write_table, write_text
    from advcompress.tables import concat_tables

    summary = rd_table(concat_tables(a.inputs))
    write_table(a.out_csv, summary)
    write_text(a.out_md, summary.to_markdown(index=False, floatfmt=".4g"))


def cmd_rd_bd(a) -> None:
    from advcompress.foundation.tables import rd_bd
    from advcompress.io import write_table, write_text
    from advcompress.stats import ci_columns_to_text
    from advcompress.tables import concat_tables

    table = rd_bd(concat_tables(a.inputs), anchor=a.anchor, seed=int(settings_of(a).get("seed", 0)))
    write_table(a.out_csv, table)
    md = ci_columns_to_text(table, ["bd_psnr_db", "bd_rate_pct"]).to_markdown(index=False, floatfmt=".3g")
    write_text(a.out_md, md)


def cmd_rd_figure(a) -> None:
    from advcompress.foundation.plots import rd_curves
    from advcompress.foundation.tables import rd_table
    from advcompress.tables import concat_tables

    rd_curves(rd_table(concat_tables(a.inputs)), a.out)


DATASET_KINDS = ("bundled", "skimage", "digits", "fetch")  # the settings' `kind` (cmd_prepare_data)


def register(add) -> None:
    sp = add("prepare-data", cmd_prepare_data)
    sp.add_argument("--out", required=True,
                    help=f"output: the dataset folder; its settings' kind is one of {', '.join(DATASET_KINDS)}")

    sp = add("train-lic", cmd_train_lic)
    sp.add_argument("--model", required=True, choices=ARCHITECTURES, help="learned architecture to train")
    sp.add_argument("--train-dir", required=True, help="folder of training images (prepare-data)")
    sp.add_argument("--out", required=True, help="output: the checkpoint (.pt), with its summary beside it (.json)")
    sp.add_argument("--init", help="checkpoint to start from (warm start)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar (batch jobs)")

    sp = add("fetch-weights", cmd_fetch_weights)
    sp.add_argument("--model", required=True, choices=ARCHITECTURES, help="learned architecture of the checkpoint")
    sp.add_argument("--quality", required=True, help="quality level of the checkpoint")
    sp.add_argument("--out", required=True, help="output: the downloaded checkpoint")

    sp = add("compress", cmd_compress)
    sp.add_argument("--codec", required=True, choices=CODECS,
                    help="codec (registered, or derived: <model>@<tag>, <codec>+online)")
    sp.add_argument("--quality", required=True, help="quality level of the codec")
    sp.add_argument("--eval-dir", required=True, help="folder of evaluation images (prepare-data)")
    add_codec_ckpt(sp, "weights of a learned codec, as CODEC@QUALITY=PATH (default: the settings' weights)")
    sp.add_argument("--out", required=True, help="output: one row per image (CSV)")
    sp.add_argument("--recon-dir", help="also write each reconstruction here (PNG)")

    for name, fn in [("rd-table", cmd_rd_table), ("rd-bd", cmd_rd_bd), ("rd-figure", cmd_rd_figure)]:
        sp = add(name, fn)
        sp.add_argument("inputs", nargs="+", help="long tables of clean coding (one row per image)")
        if name == "rd-figure":
            sp.add_argument("--out", required=True, help="figure path (.pdf or .png)")
        else:
            sp.add_argument("--out-csv", required=True, help="summary table (CSV)")
            sp.add_argument("--out-md", required=True, help="the same table as Markdown")
        if name == "rd-bd":
            # A codec of the input rows, not a registry lookup: a table job never imports the codecs.
            sp.add_argument("--anchor", default="jpeg", metavar="CODEC",
                            help="the reference codec of the BD deltas, one of the inputs' codecs (default: %(default)s)")
