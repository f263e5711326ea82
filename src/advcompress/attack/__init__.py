"""The RD-attack study (SRDA, ARDA and the single-dimension attacks on learned codecs, Table II,
Figs. 3-12, 16, 18-22): one package, as every study.

`algorithms` (the attacks and their registry), `assess` (the multi-granularity assessment by real
coding), `run` (what an `attack-run`/`attack-tau` job calls), `tables` (Table II and the figures'
aggregates; pandas only), `figures` (the torch-free registry planning reads), `plots` (drawing).
This file imports nothing: planning imports `attack.figures`, and must not pull in torch.
"""
