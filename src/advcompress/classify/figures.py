"""The figures of the classifier-defense study, registered by name.

`reads` maps each input role to a group of the study's job outputs, as `advcompress.plan.classify`
names them (`table_inputs`: the rows of a table of the same name; `adaptive_examples`: one net's
example images). `classify.report` draws; it is imported when a figure is drawn, since the
workflow imports this registry to plan.
"""

from __future__ import annotations

from advcompress.figure_registry import Figures

FIGURES = Figures("classify")
DEFENSES = "Compression defenses"


def _accuracy_figure(kind):
    """Accuracy with its intervals over images against eps, the L2 threshold, the rounds or the JPEG
    quality (Fig. 1: the images after N cycles)."""

    def draw(inputs, s, out):
        from advcompress.classify import report

        (files,) = inputs.values()  # the one role it reads
        report.draw_figure(kind, files, out, s)

    return draw


for _kind, _settings in [("linf", ("seed",)), ("l2", ("seed", "l2_thresholds")), ("ablation", ("seed",)),
                         ("sequential", ("seed",))]:  # Figs. 2-4, Fig. 3 / Table 4, Fig. 5, Figs. 8-13
    FIGURES.register(_kind, file=_kind, reads={"rows": _kind}, settings=_settings, group=DEFENSES)(
        _accuracy_figure(_kind))


# One figure per codec: Figs. 6-7 (learned quality ablations), Figs. 8-9 (accuracy against N) and
# 17-19 (against eps, a line per N); Fig. 1 (images after N cycles); adaptive JPEG Figs. 2a and 6.
for _kind, _file, _group in [("ablation-codec", "ablation_{codec}", "codec_ablation"),
                             ("sequential-codec", "sequential_{codec}", "sequential"),
                             ("sequential-eps", "sequential_eps_{codec}", "sequential"),
                             ("cycles", "cycles", "cycles"),
                             ("adaptive-quality", "adaptive_quality", "adaptive_quality"),
                             ("adaptive-attacks", "adaptive_attacks", "adaptive_attacks")]:
    FIGURES.register(_kind, file=_file, reads={"images" if _kind == "cycles" else "rows": _group},
                     settings=() if _kind == "cycles" else ("seed",),
                     group="Adaptive JPEG" if _kind.startswith("adaptive") else DEFENSES)(_accuracy_figure(_kind))


@FIGURES.register("adaptive-example", file="adaptive_{net}", reads={"examples": "adaptive_examples"},
                  group="Adaptive JPEG")
def adaptive_example(inputs, s, out):
    """Adaptive JPEG defense paper, Fig. 5: the examples of each method, one row per image."""
    from advcompress.classify import report

    report.draw_figure("adaptive-example", inputs["examples"], out, s)
