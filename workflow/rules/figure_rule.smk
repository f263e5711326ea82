# A study whose figures or tables are a registry (advcompress.figure_registry) draws or writes them
# all with one rule each, declared here by figure_rule and table_rule; the stage files call them. No
# planning here: the registry says what an entry draws and reads, the study's plan which files and
# settings that is for the config.
from advcompress.figure_registry import as_arguments


def registry_rule(rule_name, planned, inputs, settings, outputs, caption, category, command):
    """Declare `rule_name`: one job per key of `planned` (key -> (registered entry, its attack or
    net or None), as the study's plan gives them); its wildcard, `{<rule_name>}`, takes exactly those
    keys (common.smk). `inputs(config, entry, each)` gives role -> files and `settings(config,
    entry, each)` the settings slice. `outputs`: name -> path, `{<rule_name>}` in it; the first is
    the one in the report.

    One caption file serves all the rule's entries, since Snakemake fixes the caption of an output
    when the rule is declared; it picks each entry's text by `params.kind`.
    """

    def planned_entry(w):
        return planned[getattr(w, rule_name)]

    (reported, path), *others = outputs.items()
    shown = report(path, caption=caption, category=category, subcategory=lambda w: planned_entry(w)[0].group)

    rule:
        name:
            rule_name
        conda:
            CONDA_ENV
        input:
            unpack(lambda w: inputs(config, *planned_entry(w))),
        output:
            **{reported: shown},
            **dict(others),
        params:
            kind=lambda w: planned_entry(w)[0].name,
            attack=lambda w: planned_entry(w)[1] or "",
            inputs=lambda w: as_arguments(inputs(config, *planned_entry(w))),
            settings=lambda w: as_json(settings(config, *planned_entry(w))),
            settings_arg=lambda w: settings_arg(settings(config, *planned_entry(w))),
        log:
            logfile(rule_name, f"{{{rule_name}}}"),
        benchmark:
            benchfile(rule_name, f"{{{rule_name}}}")
        localrule: True
        shell:
            command


def figure_rule(study, stems, inputs, settings, path=None, command=None):
    """Declare `<study>_figure`, drawing each figure of `stems` (file stem -> (registered figure,
    attack or None), as the study's plan.figure_plan gives them) into `path` (figures/<study>/<stem>.pdf
    unless given) by `command` (`advcompress <study>-figure`, inputs as ROLE=FILE, unless given).
    Its caption: workflow/report/<study>_figure.rst."""
    name = f"{study}_figure"
    registry_rule(
        name, stems, inputs, settings,
        {"figure": path or f"{OUT}/figures/{study}/{{{name}}}.pdf"},
        f"../report/{name}.rst", study,
        command or f"advcompress {study}-figure --kind {{params.kind:q}} {{params.inputs:q}} --out {{output:q}} "
        "--settings {params.settings:q} > {log:q} 2>&1",
    )


def table_rule(study, stems, inputs, settings, command):
    """Declare `<study>_table`, writing each table of `stems` (as figure_rule's) into
    tables/<study>_<stem>.csv and .md by `command`. Its caption: workflow/report/<study>_table.rst."""
    name = f"{study}_table"
    path = f"{OUT}/tables/{study}_{{{name}}}"
    registry_rule(name, stems, inputs, settings, {"csv": f"{path}.csv", "md": f"{path}.md"},
                  f"../report/{name}.rst", study, command)
