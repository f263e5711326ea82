"""The figures of both backdoor studies, registered by name.

`reads` maps each input role to the job outputs it reads, as `advcompress.plan.backdoor` names
them: `runs:<sweep>` (the run rows of every classifier run of a sweep: main, ir, alpha, transfer),
`fc-main` (the compression-resistant run of the main trigger), `lic:<rows>` (the LIC evaluation's
rd, ds or defense rows of every model and quality), `lic:example` (the example folder of Fig. 6).
A figure's `file` is its name under figures/backdoor_, with its extension: one is a PNG.
`backdoor.report` draws; it is imported when a figure is drawn, since the workflow imports this
registry to plan.
"""

from __future__ import annotations

from advcompress.figure_registry import Figures

FIGURES = Figures("backdoor")
CLASSIFIER, LIC = "Compression-resistant classifier backdoor", "Backdoored LIC encoder"


def _rows(paths):
    from advcompress.tables import concat_tables

    return concat_tables(paths)


def _classifier_figure(kind):
    def draw(inputs, s, out):
        from advcompress.backdoor import report

        report.classifier_figure(_rows(inputs["rows"]), kind, s, out)

    return draw


def _lic_rd_figure(kind):
    def draw(inputs, s, out):
        from advcompress.backdoor import report

        report.lic_rd_figure(_rows(inputs["rows"]), kind, out, seed=int(s["seed"]))

    return draw


# Compression-resistant backdoor, Fig. 6: ASR after JPEG against its quality; Fig. 7: codec transfer.
# (a) is the main architecture's; (b) studies.trigger_archs' (the paper's VGG-16), one panel each.
FIGURES.register("fig6", file="fig6_asr_vs_jpeg.pdf", reads={"rows": ("runs:main",)}, settings=("seed",),
                 group=CLASSIFIER)(_classifier_figure("fig6"))
FIGURES.register("fig7", file="fig7_codec_transfer.pdf", reads={"rows": ("fc-main", "runs:transfer")},
                 settings=("test_codecs",), group=CLASSIFIER)(_classifier_figure("fig7"))
FIGURES.register("fig6b", file="fig6b_asr_vs_jpeg.pdf", reads={"rows": ("runs:arch_triggers",)}, settings=("seed",),
                 group=CLASSIFIER)(_classifier_figure("fig6"))
FIGURES.register("fig7b", file="fig7b_codec_transfer.pdf", reads={"rows": ("runs:arch_transfer",)},
                 settings=("test_codecs",), group=CLASSIFIER)(_classifier_figure("fig7"))
# Backdoored LIC encoder (Yu et al.), Figs. 4 and 5: RD points of the bit-rate and the PSNR attack.
FIGURES.register("lic_fig4", file="lic_fig4_bpp_attack.pdf", reads={"rows": ("lic:rd",)}, settings=("seed",),
                 group=LIC)(_lic_rd_figure("fig4"))
FIGURES.register("lic_fig5", file="lic_fig5_psnr_attack.pdf", reads={"rows": ("lic:rd",)}, settings=("seed",),
                 group=LIC)(_lic_rd_figure("fig5"))
# Fig. 10, "attacking for good": RD points of the downstream trigger on the evaluation photos (the
# paper's Kodak) and on the digits it was trained on (docs/backdoor.md).
FIGURES.register("lic_fig10", file="lic_fig10_for_good.pdf", reads={"rows": ("lic:rd", "lic:ds")},
                 settings=("seed",), group=LIC)(_lic_rd_figure("fig10"))


@FIGURES.register("lic_fig6", file="lic_fig6_example.png", reads={"example": ("lic:example",)}, group=LIC)
def lic_fig6(inputs, s, out):
    """Fig. 6 of Yu et al.: the example image, clean and triggered, and its reconstructions."""
    from advcompress.backdoor import report

    report.lic_example(inputs["example"][0], out)
