"""RD-attack commands: attack one algorithm (job), attack your own image, Table II and figures."""

from __future__ import annotations

import logging
from pathlib import Path

from advcompress.attack.figures import FIGURES
from advcompress.cli import LEARNED_CODECS, add_codec_ckpt, codec_ckpt, registry_names, settings_of
from advcompress.codecs import make_codec_from_settings

log = logging.getLogger("advcompress")


def _load_eval(eval_dir, settings):
    import torch

    from advcompress.attack.run import centre_crop
    from advcompress.data import load_image_folder

    names, images = load_image_folder(eval_dir)
    n = settings.get("images")
    names, images = (names[:n], images[:n]) if n else (names, images)
    x = torch.cat([centre_crop(im, settings.get("crop")) for im in images])
    return names, x


def _job_inputs(a, s):
    """An attack job's codecs (quality -> codec, each from its --codec-ckpt model@quality=path),
    image names and evaluation crops on the codecs' device; threads and seed set."""
    from advcompress.device import seed_everything, set_threads

    set_threads(a.threads)
    seed_everything(int(s.get("seed", 0)))
    paths = {q: codec_ckpt(a, a.model, q, required=True) for q in s["qualities"]}  # all named before any loads
    codecs = {int(q): make_codec_from_settings(a.model, q, s["codec"], path) for q, path in paths.items()}
    device = next(next(iter(codecs.values())).parameters()).device
    names, x = _load_eval(a.eval_dir, s)
    return codecs, names, x.to(device)


def cmd_attack_run(a) -> None:
    import numpy as np

    from advcompress.attack.run import run_attack_job
    from advcompress.data import save_png
    from advcompress.io import atomic_path, write_table

    s = settings_of(a)
    codecs, names, x = _job_inputs(a, s)
    out = run_attack_job(a.attack, a.model, codecs, names, x, s["directions"], s)
    write_table(a.rows, out["rows"])
    write_table(a.local, out["local"])
    write_table(a.latents, out["latents"])
    write_table(a.steps, out["steps"])
    with atomic_path(a.gallery) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **out["gallery"])
    for (src, d), xa in out["adv"].items():
        for i, name in enumerate(names):
            save_png(xa[i : i + 1].cpu(), Path(a.adv_dir) / f"q{src}" / d / f"{name}.png")
    rows = out["rows"]
    log.info("%s %s: %d rows, %d with errors", a.attack, a.model, len(rows), int((rows["error"] != "").sum()))


def cmd_attack_tau(a) -> None:
    """ARDA at each temperature of the settings' `taus` on one codec's submodels (the tau ablation)."""
    from advcompress.attack.run import tau_ablation_job
    from advcompress.io import write_table

    s = settings_of(a)
    codecs, names, x = _job_inputs(a, s)
    rows = tau_ablation_job(a.model, codecs, names, x, s["directions"], s)
    write_table(a.rows, rows)
    log.info("tau ablation %s: %d rows over tau rules %s", a.model, len(rows), ", ".join(dict.fromkeys(rows["tau_rule"])))


def cmd_attack_image(a) -> None:
    """Attack one image file with one command and print clean vs adversarial numbers."""
    import torch

    from advcompress.attack.algorithms import get_attack
    from advcompress.data import read_image, save_png
    from advcompress.device import set_threads
    from advcompress.evaluate import code_image

    s = settings_of(a)
    set_threads(a.threads)
    torch.manual_seed(int(s.get("seed", 0)))
    codec = make_codec_from_settings(a.codec, a.quality, s, codec_ckpt(a, a.codec, a.quality))
    device = next(codec.parameters()).device
    x = read_image(Path(a.image)).to(device)
    res = get_attack(a.attack)(codec, x, tuple(a.direction) if a.direction else None, s.get("attack", {}))
    save_png(res.x_adv.cpu(), a.out)
    for label, img in [("clean", x), ("adversarial", res.x_adv)]:
        row, _ = code_image(codec, img)
        print(f"{label:12s} bpp_actual={row['bpp_actual']:.4f} bpp_est={row['bpp_est']:.4f} "
              f"mse255={row['mse255']:.2f} psnr_db={row['psnr_db']:.2f} {row['error']}")


def cmd_attack_table(a) -> None:
    """Table II: CSV with numeric `_lo`/`_hi` columns, Markdown with 'mu [lo, hi]' cells."""
    from advcompress.attack.tables import table2
    from advcompress.io import write_table, write_text
    from advcompress.stats import ci_columns_to_text
    from advcompress.tables import concat_tables, to_markdown

    t = table2(concat_tables(a.inputs), seed=int(settings_of(a).get("seed", 0)))
    write_table(a.out_csv, t)
    mus = [c[: -len("_lo")] for c in t.columns if c.endswith("_lo")]
    write_text(a.out_md, to_markdown(ci_columns_to_text(t, mus, ".4g")))


def cmd_attack_figure(a) -> None:
    """One figure of the RD-attack study, by its name in advcompress.attack.figures."""
    FIGURES.draw(a.kind, a.inputs, settings_of(a), a.out)


ATTACKS = registry_names("RD attack", "advcompress.attack.algorithms", "ATTACKS", "ATTACK")


def register(add) -> None:
    sp = add("attack-run", cmd_attack_run)
    sp.add_argument("--model", required=True, choices=LEARNED_CODECS,
                    help="learned codec to attack (registered, or derived: <model>@<tag>, <model>+online)")
    sp.add_argument("--attack", required=True, choices=ATTACKS, help="RD attack (advcompress.attack.algorithms registry)")
    sp.add_argument("--eval-dir", required=True, help="folder of evaluation images (prepare-data)")
    add_codec_ckpt(sp, "checkpoint of the model at each of the settings' qualities (one per quality)")
    for o, what in [("rows", "per-image x direction x quality rows (CSV)"),
                    ("local", "per-image local success rows (CSV)"),
                    ("latents", "latent ranges per channel (CSV)"),
                    ("steps", "the attack's per-step log (CSV)"),
                    ("gallery", "reconstructions for the gallery figures (.npz)"),
                    ("adv-dir", "folder for the adversarial images (PNG, q<quality>/<direction>/)")]:
        sp.add_argument(f"--{o}", required=True, help=f"output: {what}")

    sp = add("attack-tau", cmd_attack_tau)
    sp.add_argument("--model", required=True, choices=LEARNED_CODECS, help="learned codec whose submodels ARDA attacks")
    sp.add_argument("--eval-dir", required=True, help="folder of evaluation images (prepare-data)")
    add_codec_ckpt(sp, "checkpoint of the model at each of the settings' qualities (one per quality)")
    sp.add_argument("--rows", required=True, help="output: per-image x direction x quality x tau rows (CSV)")

    sp = add("attack-image", cmd_attack_image)
    sp.add_argument("--codec", required=True, choices=LEARNED_CODECS,
                    help="learned codec to attack (registered, or derived: <model>@<tag>, <model>+online)")
    sp.add_argument("--quality", required=True, help="quality level of the codec")
    add_codec_ckpt(sp, "weights of the codec, as CODEC@QUALITY=PATH (default: the settings' weights)")
    sp.add_argument("--image", required=True, help="image file to attack")
    sp.add_argument("--out", required=True, help="output: the adversarial image (PNG)")
    sp.add_argument("--attack", default="srda", choices=ATTACKS,
                    help="RD attack (advcompress.attack.algorithms registry; default: %(default)s)")
    sp.add_argument("--direction", nargs=2, type=float, metavar=("GAMMA_R", "GAMMA_D"),
                    help="attack direction: weights of the rate and distortion terms (default: the attack's own)")

    sp = add("attack-table", cmd_attack_table)
    sp.add_argument("inputs", nargs="+", help="per-image attack rows (attack-run --rows)")
    sp.add_argument("--out-csv", required=True, help="output: Table II with numeric _lo/_hi columns (CSV)")
    sp.add_argument("--out-md", required=True, help="output: Table II as Markdown ('mu [lo, hi]' cells)")

    FIGURES.add_arguments(add("attack-figure", cmd_attack_figure))
