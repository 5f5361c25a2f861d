"""Dagster run config generated from the domain configs, so each knob and its help live once.

A domain config is a dataclass whose fields carry `metadata={"help": ...}`, as mlx-lm's and
TRL's training arguments do. `run_config(SearchConfig, exclude=...)` is a `dg.Config` with the
same fields, defaults and help text; an asset subclasses it to add what is its own (a run's
budget, a check's floor). `domain_config(config, SearchConfig, ...)` builds the domain config
back from a run's values.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection

import dagster as dg
import pydantic


def _is_tuple(hint) -> bool:
    return typing.get_origin(hint) is tuple


def run_config(*domains: type, exclude: Collection[str] = ()) -> type[dg.Config]:
    """A `dg.Config` with the fields of the `domains` dataclasses, but `exclude`: their types
    (tuples become lists, which Dagster config has), defaults and help text."""
    fields = {}
    for domain in domains:
        hints = typing.get_type_hints(domain)
        for f in dataclasses.fields(domain):
            if f.name in exclude:
                continue
            hint = hints[f.name]
            default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            if _is_tuple(hint):
                hint, default = list[typing.get_args(hint)[0]], list(default)
            fields[f.name] = (hint, pydantic.Field(default, description=f.metadata["help"]))
    name = "".join(d.__name__ for d in domains) + "Fields"
    return pydantic.create_model(name, __base__=dg.Config, **fields)


def domain_config(config: dg.Config, domain: type, **values):
    """`domain` built from the run config's fields of the same names, and `values`."""
    hints = typing.get_type_hints(domain)
    for f in dataclasses.fields(domain):
        if f.name in values or f.name not in type(config).model_fields:
            continue
        value = getattr(config, f.name)
        values[f.name] = tuple(value) if _is_tuple(hints[f.name]) else value
    return domain(**values)
