"""The project's own implementations of learned algorithms CompressAI does not ship.

Each module registers its architecture with `advcompress.codecs.learned.register_architecture`
when imported; `advcompress.codecs.catalog` lists which module registers which name, and the
registry imports a module the first time one of its names is used.
"""
