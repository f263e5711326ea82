"""Defense commands: adversarial fine-tuning of one submodel, Table III and the defense figures.

Attacks on defended codecs are the attack study's own `attack-run` jobs; online updating is the
`<codec>+online` codec wrapper, so it needs no command of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

from advcompress.cli import ARCHITECTURES, settings_of
from advcompress.codecs import make_codec_from_settings
from advcompress.defense.figures import FIGURES

log = logging.getLogger("advcompress")


def cmd_defense_train(a) -> None:
    """Fine-tune (model, quality) adversarially from its checkpoint; save as `<model>@at-<samples>`."""
    from advcompress.codecs.learned import save_checkpoint
    from advcompress.data import load_image_folder
    from advcompress.defense.adversarial_training import ATSettings, adversarial_train
    from advcompress.device import seed_everything, set_threads
    from advcompress.foundation.train import PatchSampler
    from advcompress.io import write_json

    s = settings_of(a)
    set_threads(a.threads)
    g = seed_everything(int(s.get("seed", 0)))
    qualities = [int(q) for q in s["qualities"]]
    codec = make_codec_from_settings(a.model, qualities[0], s["codec"], a.init)
    _, images = load_image_folder(a.train_dir, as_uint8=True)
    sampler = PatchSampler(images, int(s["patch"]), g)
    at = ATSettings.from_dict(s["at"])
    summary = adversarial_train(codec, sampler, qualities, at, g)
    name = f"{a.model}@at-{a.samples}"
    meta = {"codec": name, "model": a.model, "samples": a.samples, "qualities": qualities, "init": a.init,
            "settings": s, **summary}
    save_checkpoint(codec, a.out, {k: v for k, v in meta.items() if k != "history"})
    write_json(Path(a.out).with_suffix(".json"), meta)
    log.info("%s q%s: %d AT steps in %.1f s", name, qualities, summary["steps"], summary["seconds"])


def cmd_defense_table(a) -> None:
    from advcompress.defense.tables import robustness, table3
    from advcompress.io import write_table, write_text
    from advcompress.stats import ci_columns_to_text
    from advcompress.tables import concat_tables, to_markdown

    s = settings_of(a)
    summary = robustness(concat_tables(a.inputs), s["labels"], seed=int(s.get("seed", 0)))
    write_table(a.out_summary, summary)
    t = table3(summary, s["samples"])  # label -> sample kind
    write_table(a.out_csv, t)
    mus = [c[: -len("_lo")] for c in t.columns if c.endswith("_lo")]
    write_text(a.out_md, to_markdown(ci_columns_to_text(t, mus, ".4g")))


def cmd_defense_figure(a) -> None:
    """One figure of the defense study, by its name in advcompress.defense.figures."""
    FIGURES.draw(a.kind, a.inputs, settings_of(a), a.out)


def register(add) -> None:
    sp = add("defense-train", cmd_defense_train)
    sp.add_argument("--model", required=True, choices=ARCHITECTURES, help="learned architecture to fine-tune")
    sp.add_argument("--samples", required=True, help="name of the AT sample kind (the @at-<samples> suffix)")
    sp.add_argument("--train-dir", required=True, help="folder of training images (prepare-data)")
    sp.add_argument("--init", required=True, help="checkpoint of the model before AT")
    sp.add_argument("--out", required=True, help="output: the fine-tuned checkpoint, with its summary (.json)")

    sp = add("defense-table", cmd_defense_table)
    sp.add_argument("inputs", nargs="+", help="attack rows of the models with and without each defense")
    sp.add_argument("--out-summary", required=True, help="output: the robustness summary (CSV)")
    sp.add_argument("--out-csv", required=True, help="output: Table III with numeric _lo/_hi columns (CSV)")
    sp.add_argument("--out-md", required=True, help="output: Table III as Markdown")

    FIGURES.add_arguments(add("defense-figure", cmd_defense_figure))
