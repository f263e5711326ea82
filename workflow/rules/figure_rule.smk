# A study whose figures are a registry (advcompress.figure_registry) draws them all with one rule,
# declared here by figure_rule; the attack and defense stages call it once each. No planning here:
# the registry says what a figure draws and reads, the study's plan which files and settings that
# is for the config.
from advcompress.figure_registry import as_arguments


def figure_rule(study, stems, inputs, settings):
    """Declare `<study>_figure`: one job per file figures/<study>/<stem>.pdf of `stems` (stem ->
    (registered figure, attack or None), as the study's plan.figure_plan gives them); its wildcard,
    `{<study>_figure}`, takes exactly those stems (common.smk). `inputs(config, figure, attack)`
    gives role -> files and `settings(config, figure, attack)` the settings slice.

    One caption file serves all the study's figures, since Snakemake fixes the caption of an
    output when the rule is declared; it picks each figure's text by `params.kind`.
    """
    rule_name = f"{study}_figure"

    def planned(w):
        return stems[getattr(w, rule_name)]

    rule:
        name:
            rule_name
        conda:
            CONDA_ENV
        input:
            unpack(lambda w: inputs(config, *planned(w))),
        output:
            report(
                f"{OUT}/figures/{study}/{{{rule_name}}}.pdf",
                caption=f"../report/{study}_figure.rst",
                category=study,
                subcategory=lambda w: planned(w)[0].group,
            ),
        params:
            kind=lambda w: planned(w)[0].name,
            attack=lambda w: planned(w)[1] or "",
            inputs=lambda w: as_arguments(inputs(config, *planned(w))),
            settings=lambda w: as_json(settings(config, *planned(w))),
        log:
            logfile(rule_name, f"{{{rule_name}}}"),
        benchmark:
            benchfile(rule_name, f"{{{rule_name}}}")
        localrule: True
        shell:
            f"advcompress {study}-figure --kind {{params.kind:q}} {{params.inputs:q}} --out {{output:q}} "
            "--settings {params.settings:q} > {log:q} 2>&1"
