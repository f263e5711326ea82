# A study whose figures are a registry (advcompress.figure_registry) draws them all with one rule,
# declared here by figure_rule; the attack and defense stages call it once each. No science here:
# the registry says what a figure draws and reads, the study's planning which files and settings
# that is for the config.
from advcompress.figure_registry import as_arguments


def figure_rule(study, plan, inputs, settings):
    """Declare `<study>_figure`: one job per file figures/<study>/<stem>.pdf of `plan` (stem ->
    (registered figure, attack or None), Figures.plan); `{figure}` takes exactly those stems.
    `inputs(figure, attack)` gives role -> files and `settings(figure, attack)` the settings slice.

    One caption file serves all the study's figures, since Snakemake fixes the caption of an
    output when the rule is declared; it picks each figure's text by `params.kind`.
    """
    rule:
        name:
            f"{study}_figure"
        conda:
            CONDA_ENV
        input:
            unpack(lambda w: inputs(*plan[w.figure])),
        output:
            report(
                f"{OUT}/figures/{study}/{{figure}}.pdf",
                caption=f"../report/{study}_figure.rst",
                category=study,
                subcategory=lambda w: plan[w.figure][0].group,
            ),
        params:
            kind=lambda w: plan[w.figure][0].name,
            attack=lambda w: plan[w.figure][1] or "",
            inputs=lambda w: as_arguments(inputs(*plan[w.figure])),
            settings=lambda w: as_json(settings(*plan[w.figure])),
        wildcard_constraints:
            figure=_alternation(plan),
        log:
            logfile(f"{study}_figure", "{figure}"),
        benchmark:
            benchfile(f"{study}_figure", "{figure}")
        localrule: True
        shell:
            f"advcompress {study}-figure --kind {{params.kind:q}} {{params.inputs:q}} --out {{output:q}} "
            "--settings {params.settings:q} > {log:q} 2>&1"


def figure_files(study, plan):
    return [f"{OUT}/figures/{study}/{stem}.pdf" for stem in plan]
