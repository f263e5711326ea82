"""The defense study (paper Sec. VI: adversarial training and online updating of learned codecs,
Table III, Figs. 13-15, 17): one package, as every study.

`adversarial_training` (the study's one job: fine-tune a submodel on SRDA samples; online updating
is the `+online` codec wrapper in `codecs.wrappers`, which the codec registry builds by name),
`tables` (Table III and the robustness summary; pandas only), `figures` (the torch-free registry
planning reads), `plots` (drawing). This file imports nothing: planning imports `defense.figures`.
"""
