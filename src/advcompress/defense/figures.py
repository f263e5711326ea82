"""The figures of the defense study (Figs. 13-15, 17), registered by name.

`reads` maps each input role to the defense labels whose files it reads, for every defense model:
`rows`, the attack study's rows under the figure's attack; `clean`, the clean coding rows of the
whole evaluation set. `defense.plots` draws; it is imported when a figure is drawn, since the
workflow imports this registry to plan.
"""

from __future__ import annotations

from advcompress.figure_registry import Figures

FIGURES = Figures("defense")
IMPROVEMENT = ("none", "AT", "online")
COMBINED = ("none", "AT", "online", "AT + online")


def _rows(paths):
    from advcompress.tables import concat_tables

    return concat_tables(paths)


def _bars(defenses, title):
    """Mean dR and dD per algorithm, one bar per defense in `defenses`, under the figure's attack."""

    def draw(inputs, s, out):
        from advcompress.defense.plots import defense_bars
        from advcompress.defense.tables import robustness

        summary = robustness(_rows(inputs["rows"]), s["labels"], seed=int(s["seed"]))
        defense_bars(summary, s["attack"], list(defenses), out, title.format(attack=s["attack"].upper()))

    return draw


FIGURES.register("improvement", file="improvement_{attack}", reads={"rows": IMPROVEMENT},
                 settings=("labels", "attack", "seed"), group="Robustness after defenses")(
    _bars(IMPROVEMENT, "{attack}: before and after the defenses"))  # Figs. 13 (SRDA), 14 (ARDA)
FIGURES.register("combined", file="combined_{attack}", attacks=("srda",), reads={"rows": COMBINED},
                 settings=("labels", "attack", "seed"), group="Robustness after defenses")(
    _bars(COMBINED, "{attack}: AT, online and both"))  # Fig. 17


@FIGURES.register("clean_rd", file="clean_rd_at", reads={"clean": ("none", "AT")}, settings=("labels",),
                  group="Clean RD after AT")
def clean_rd(inputs, s, out):
    """Fig. 15: clean RD before and after AT (whole evaluation set, real bitstreams)."""
    from advcompress.defense.plots import clean_rd_before_after

    clean_rd_before_after(_rows(inputs["clean"]), s["labels"], out, "Clean RD before and after AT")
