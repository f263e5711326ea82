"""The project's own implementations of learned algorithms CompressAI does not ship.

Every module in this package is imported on first registry use; each registers its
architecture with `advcompress.codecs.learned.register_architecture`.
"""

import importlib
import pkgutil

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_mod}")
