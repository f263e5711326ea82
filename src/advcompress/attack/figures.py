"""The figures of the RD-attack study (Figs. 3-12, 16, 18-22), registered by name.

A figure reads, for every attacked model, files its attack job wrote under
results/attack/<attack>/<model>/: `reads` maps each input role to "<attack>/<file>", "{attack}"
standing for the figure's own attack. `attack.plots` draws; it is imported when a figure is drawn,
since the workflow imports this registry to plan.
"""

from __future__ import annotations

from pathlib import Path

from advcompress.figure_registry import Figures

FIGURES = Figures("attack")
LABEL = ("attack_label",)


def _plots():
    from advcompress.attack import plots

    return plots


def _table(paths):
    from advcompress.tables import concat_tables

    return concat_tables(paths)


def _galleries(paths) -> dict:
    """model -> {key: array} of each gallery.npz (the model is its folder's name)."""
    import numpy as np

    out = {}
    for p in paths:
        with np.load(p) as z:
            out[Path(p).parent.name] = {k: z[k] for k in z.files}
    return out


@FIGURES.register("rd", file="{attack}_rd", reads={"rows": "{attack}/rows.csv"},
                  settings=(*LABEL, "directions"), group="RD before and after")
def rd(inputs, s, out):
    """Figs. 4 (SRDA) and 16 (ARDA): RD before and after, one panel per direction."""
    _plots().rd_before_after(_table(inputs["rows"]), s["directions"], out, f"RD before/after {s['attack_label']}")


@FIGURES.register("directions", file="{attack}_directions", reads={"rows": "{attack}/rows.csv"},
                  settings=(*LABEL, "directions", "seed"), group="Global deltas")
def directions(inputs, s, out):
    """Figs. 5 (SRDA) and 6 (ARDA): mu(dR), mu(dD) against the direction."""
    _plots().directions_plot(_table(inputs["rows"]), s["directions"], out,
                             f"{s['attack_label']}: deltas vs direction", seed=int(s["seed"]))


@FIGURES.register("submodels", file="{attack}_submodels", reads={"rows": "{attack}/rows.csv"},
                  settings=(*LABEL, "seed"), group="Global deltas")
def submodels(inputs, s, out):
    """Figs. 7 (SRDA) and 8 (ARDA): per-submodel deltas."""
    _plots().submodels_plot(_table(inputs["rows"]), out, f"{s['attack_label']}: per-submodel deltas",
                            seed=int(s["seed"]))


@FIGURES.register("success", file="{attack}_success", reads={"local": "{attack}/local.csv"},
                  settings=LABEL, group="Local effects")
def success(inputs, s, out):
    """Figs. 9 (SRDA) and 10 (ARDA): local success ratios over thresholds."""
    _plots().success_plot(_table(inputs["local"]), out, f"{s['attack_label']}: local success ratios")


@FIGURES.register("latents", file="{attack}_latents", reads={"latents": "{attack}/latents.csv"},
                  settings=LABEL, group="Latent statistics")
def latents(inputs, s, out):
    """Figs. 12 and 18: per-channel latent ranges, clean vs adversarial."""
    _plots().latents_plot(_table(inputs["latents"]), out, f"{s['attack_label']}: latent ranges per channel")


GALLERY = {"gallery": "{attack}/gallery.npz", "rows": "{attack}/rows.csv"}


def _gallery(inputs, s, out, by, fixed):
    rows = _table(inputs["rows"])
    names = list(dict.fromkeys(rows["image"]))
    _plots().gallery_plot(rows, _galleries(inputs["gallery"]), out, by, fixed,
                          f"{s['attack_label']}: reconstructions of adversarial images (NaN drawn as 255)",
                          names[int(s["gallery_image"]) % len(names)], s["directions"])


@FIGURES.register("gallery_directions", file="{attack}_gallery_directions", reads=GALLERY,
                  settings=(*LABEL, "directions", "gallery_image", "gallery_quality_index"), group="Galleries")
def gallery_directions(inputs, s, out):
    """Figs. 19 (SRDA, one submodel) and 21 (ARDA): reconstructions under every direction."""
    _gallery(inputs, s, out, "direction", int(s["gallery_quality_index"]))


@FIGURES.register("gallery_submodels", file="{attack}_gallery_submodels", reads=GALLERY,
                  settings=(*LABEL, "directions", "gallery_image", "gallery_direction"), group="Galleries")
def gallery_submodels(inputs, s, out):
    """Figs. 20 (SRDA) and 22 (ARDA): reconstructions of every submodel under one direction."""
    _gallery(inputs, s, out, "quality", s["gallery_direction"])


@FIGURES.register("transfer", file="transfer", reads={"rows": "srda/rows.csv"},
                  settings=("transfer_source_index",), group="Transfer")
def transfer(inputs, s, out):
    """Fig. 3: SRDA images crafted for one submodel, coded by every submodel."""
    _plots().transfer_plot(_table(inputs["rows"]), int(s["transfer_source_index"]), out)


@FIGURES.register("masks", file="masks", reads={"srda": "srda/gallery.npz", "arda": "arda/gallery.npz"},
                  settings=("mask_direction", "mask_threshold"), group="Local effects")
def masks(inputs, s, out):
    """Fig. 11: success/failure masks at D_T over the reconstructions, SRDA beside ARDA."""
    galleries = {attack: _galleries(paths) for attack, paths in inputs.items()}
    _plots().masks_plot(galleries, s["mask_direction"], float(s["mask_threshold"]), out)


@FIGURES.register("tau", file="arda_tau", reads={"rows": "tau_ablation/rows.csv"},
                  settings=("directions", "seed"), group="ARDA temperature")
def tau(inputs, s, out):
    """The ARDA temperature ablation: mu(dR), mu(dD) and the largest weight per direction and tau."""
    _plots().tau_plot(_table(inputs["rows"]), s["directions"], out, seed=int(s["seed"]))
