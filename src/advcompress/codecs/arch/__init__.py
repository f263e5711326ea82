"""The project's own implementations of learned algorithms CompressAI does not ship.

Each module registers its architecture with `advcompress.codecs.learned.register_architecture`
when imported; MODULES lists the ones the registry loads.
"""

import importlib

MODULES: tuple[str, ...] = ("cai2022", "elic", "hific", "song2021", "stf", "tcm")

for _mod in MODULES:
    importlib.import_module(f"{__name__}.{_mod}")
