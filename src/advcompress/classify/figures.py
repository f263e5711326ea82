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
    """Accuracy with its intervals over images against eps, the L2 threshold or the rounds."""

    def draw(inputs, s, out):
        from advcompress.classify import report

        report.draw_figure(kind, inputs["rows"], out, s)

    return draw


for _kind, _settings in [("linf", ("seed",)), ("l2", ("seed", "l2_thresholds")), ("ablation", ("seed",)),
                         ("sequential", ("seed",))]:  # Figs. 2-4, Fig. 3 / Table 4, Fig. 5, Figs. 8-13
    FIGURES.register(_kind, file=_kind, reads={"rows": _kind}, settings=_settings, group=DEFENSES)(
        _accuracy_figure(_kind))


@FIGURES.register("adaptive-example", file="adaptive_{net}", reads={"examples": "adaptive_examples"},
                  group="Adaptive JPEG")
def adaptive_example(inputs, s, out):
    """Adaptive JPEG defense paper, Fig. 5: the examples of each method, one row per image."""
    from advcompress.classify import report

    report.draw_figure("adaptive-example", inputs["examples"], out, s)
