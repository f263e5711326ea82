"""The tables of both backdoor studies, registered by name; each writes tables/backdoor_<name>.{csv,md}.

`reads` names the job outputs as `backdoor.figures` does (`runs:<sweep>`,
`lic:<rows>`). `backdoor.report` builds the tables; it is imported when a table is written, since
the workflow imports this registry to plan.
"""

from __future__ import annotations

from advcompress.backdoor.figures import CLASSIFIER, LIC
from advcompress.figure_registry import Tables

TABLES = Tables("backdoor")


def _rows(paths):
    from advcompress.tables import concat_tables

    return concat_tables(paths)


def _table(build: str, markdown: str, kind: str):
    """Write table `kind` through backdoor.report's `build(rows, kind, settings)`, with `markdown` of it."""

    def write(inputs, s, out_csv, out_md):
        from advcompress.backdoor import report
        from advcompress.io import write_table, write_text

        table = getattr(report, build)(_rows(inputs["rows"]), kind, s)
        write_table(out_csv, table)
        write_text(out_md, getattr(report, markdown)(table))

    return write


# The compression-resistant backdoor paper's tables (docs/backdoor.md): 4, common vs compression-
# resistant, one pair per architecture (backdoor.archs); 5, adversarial training vs feature
# consistency (both with the main trigger); 6, common vs compression-resistant for every trigger; 7,
# the same on studies.trigger_archs (the paper's VGG-16); 8, the injection rate; 9, the epochs;
# 10, the initial learning rate; 11, alpha.
for _kind, _sweeps in [("table4", ("main", "archs")), ("table5", ("main",)), ("table6", ("main",)),
                       ("table7", ("arch_triggers",)), ("table8", ("ir",)), ("table9", ("epochs",)),
                       ("table10", ("lr",)), ("table11", ("alpha",))]:
    TABLES.register(_kind, file=_kind, reads={"rows": tuple(f"runs:{s}" for s in _sweeps)}, group=CLASSIFIER,
                    settings=("seed", "studies", "test_codecs"))(_table("classifier_table", "classifier_markdown", _kind))
# The backdoored LIC encoder (Yu et al.): Table 3, clean and triggered coding and the downstream
# attack; Table 5, under test-time defenses.
TABLES.register("lic_table3", file="lic_table3", reads={"rows": ("lic:rd", "lic:ds")}, settings=("seed",),
                group=LIC)(_table("lic_table", "lic_markdown", "table3"))
TABLES.register("lic_table5", file="lic_table5", reads={"rows": ("lic:defense",)}, settings=("seed",),
                group=LIC)(_table("lic_table", "lic_markdown", "table5"))
# Table 2 (face recognition in the paper; its stand-in, the digits classifier: docs/backdoor.md):
# accuracy of decoded digits, clean and ds-triggered. Table 6: the photo triggers amplified (x3)
# beside x1, under the strongest defenses.
TABLES.register("lic_table2", file="lic_table2", reads={"rows": ("lic:ds",)}, settings=("seed",),
                group=LIC)(_table("lic_table", "lic_markdown", "table2"))
# Table 1 (CarToRoad on Cityscapes in the paper; its stand-in, per-block segmentation of mosaics):
# pixel-wise ASR and the MSE between clean and attacked outputs, from the segmentation encoder.
TABLES.register("lic_table1", file="lic_table1", reads={"rows": ("lic:seg",)}, settings=("seed",),
                group=LIC)(_table("lic_table", "lic_markdown", "table1"))
# The LIRA baseline beside the frequency trigger (the LIRA rows of Tables 2, 5 and 6); planned
# with backdoor.lic.lira (paper and smoke tiers).
TABLES.register("lic_lira", file="lic_lira", settings=("seed",), group=LIC, reads={"rows": (
    "lic:defense", "lic:amplified", "lic:ds", "lic:seg", "lic:lira_defense", "lic:lira_amplified", "lic:lira_ds",
    "lic:lira_seg")})(
    _table("lic_table", "lic_markdown", "lira"))
TABLES.register("lic_table6", file="lic_table6", reads={"rows": ("lic:defense", "lic:amplified")},
                settings=("seed",), group=LIC)(_table("lic_table", "lic_markdown", "table6"))
