"""A tier config is an overlay of the default config: the config every reader sees.

`config/config.yaml` holds every key; `config/smoke.yaml` and `config/paper.yaml` hold only what
their tier changes. The Snakefile lays the `--configfile` overlay over the default with
`over_default`, and tests, benchmarks and scripts call `load_tier`, so all of them read the
config Snakemake runs with. Torch-free and Snakemake-free: planning imports it.

The merge is Snakemake's own (`snakemake.utils.update_config`, as for several `--configfile`
files): mappings merge key by key, anything else (a list, a number, null) replaces. A merge can
only add keys, and a tier must also drop some (the smoke tier has no `stf` in `codecs.learned`),
so one directive is added, spelt as in Kubernetes' strategic merge patch: a mapping holding
`$patch: replace` replaces the default's mapping whole, in the overlay's key order.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

DEFAULT = Path("config", "config.yaml")  # the default tier, relative to the workflow directory
SCHEMAS = Path("workflow", "schemas")  # config.schema.yaml, and <section>.schema.yaml per study
PATCH = "$patch"


def merge(base: Mapping, overlay: Mapping, *, patches: bool = True, where: str = "") -> dict:
    """`overlay` laid over `base`, neither changed. With `patches=False` exactly Snakemake's merge
    (`$patch` is an ordinary key, as between several `--configfile` files); with `patches=True` a
    mapping holding `$patch: replace` replaces the base's mapping instead of merging into it."""
    out = dict(base)
    for key, value in overlay.items():
        path = f"{where}.{key}" if where else str(key)
        if not isinstance(value, Mapping):
            out[key] = value
            continue
        old = out.get(key, {})
        if patches and PATCH in value:
            if value[PATCH] != "replace":
                raise ValueError(f"{path}: {PATCH} must be 'replace', not {value[PATCH]!r}")
            value = {k: v for k, v in value.items() if k != PATCH}
            old = {}
        if isinstance(old, Mapping):
            out[key] = merge(old, value, patches=patches, where=path)
        elif value:  # Snakemake's merge: a mapping over a non-mapping replaces it, unless empty
            out[key] = merge({}, value, patches=patches, where=path)
    return out


def read(path: str | Path) -> dict:
    """One config file as a mapping (YAML or JSON, as Snakemake reads it)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file holds a mapping of keys at its top level")
    return data


def over_default(overlay: Mapping, default: str | Path = DEFAULT) -> dict:
    """The default config with `overlay` (one tier, or what Snakemake read from several
    `--configfile` files and `--config`) laid over it; no schema defaults yet."""
    return merge(read(default), overlay)


def fill_defaults(config: dict, schemas: str | Path = SCHEMAS) -> dict:
    """Validate `config` in place against config.schema.yaml and each study's section against its
    own schema, filling the schemas' `default`s as Snakemake's `validate` does; returns `config`.
    Raises jsonschema.ValidationError naming an unknown or invalid key."""
    schemas = Path(schemas)
    _validator(schemas / "config.schema.yaml").validate(config)
    for schema in sorted(schemas.glob("*.schema.yaml")):
        section = schema.name.removesuffix(".schema.yaml")
        if section != "config" and section in config:
            _validator(schema).validate(config[section])
    return config


def load_tier(*overlays: str | Path, root: str | Path = ".") -> dict:
    """The config Snakemake runs with for `--configfile <overlays...>` in workflow directory
    `root`: the overlay files merged in order, laid over `root`'s default, schema defaults filled.
    No overlay (or the default file itself) gives the default tier."""
    root = Path(root)
    overlay: dict = {}
    for path in overlays:
        overlay = merge(overlay, read(path), patches=False)
    return fill_defaults(over_default(overlay, root / DEFAULT), root / SCHEMAS)


def _validator(schema_path: Path):
    """A Draft 2020-12 validator that also sets each property's `default` (jsonschema's FAQ recipe,
    which Snakemake's `validate(..., set_default=True)` uses)."""
    schema = read(schema_path)
    properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, subschema):
        for name, spec in props.items():
            if isinstance(instance, dict) and "default" in spec:
                instance.setdefault(name, spec["default"])
        yield from properties(validator, props, instance, subschema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)
