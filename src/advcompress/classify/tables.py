"""The tables of the classifier-defense study, registered by name.

Each reads the rows of the job outputs `advcompress.plan.classify.table_inputs` groups under its
name and writes tables/classify_<name>.{csv,md}; `classify.report` builds them and is imported when
a table is written, since the workflow imports this registry to plan.
"""

from __future__ import annotations

from advcompress.figure_registry import Tables

TABLES = Tables("classify")


def _write(kind):
    def write(inputs, s, out_csv, out_md):
        from advcompress.classify import report

        report.write_table(kind, inputs["rows"], out_csv, out_md, s)

    return write


# Human-aligned compression defense: Figs. 2-4 (linf), Table 2 (ifgsm), Table 4 (l2), Fig. 5
# (ablation), Figs. 8-13 (sequential), Table 1 (bpp), the cost of each defense (overhead); the
# adaptive JPEG defense paper (adaptive). Every table's intervals are seeded by `seed`.
for _kind in ("linf", "ifgsm", "l2", "ablation", "sequential", "bpp", "overhead", "adaptive"):
    TABLES.register(_kind, file=_kind, reads={"rows": _kind}, group="Compression defenses",
                    settings=("seed", "l2_thresholds") if _kind == "l2" else ("seed",))(_write(_kind))
# One file per codec: the learned codecs' quality ablations (Tables 7-8: HiFiC, ELIC) and each
# sequential codec's rounds (Tables 9-11: ELIC, HiFiC, JPEG); the adaptive JPEG paper's Figs. 2a and 6.
for _kind, _file, _group in [("ablation-codec", "ablation_{codec}", "codec_ablation"),
                             ("sequential-codec", "sequential_{codec}", "sequential"),
                             ("adaptive-quality", "adaptive_quality", "adaptive_quality"),
                             ("adaptive-attacks", "adaptive_attacks", "adaptive_attacks")]:
    TABLES.register(_kind, file=_file, reads={"rows": _group}, settings=("seed",),
                    group="Adaptive JPEG" if _kind.startswith("adaptive") else "Compression defenses")(_write(_kind))
