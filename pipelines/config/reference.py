"""Print a config tree as commented YAML: every option with its default and its help text.

`fullchain config` writes this, so a new run file starts from the documented defaults.
"""

from __future__ import annotations

import dataclasses
import textwrap
import typing

import yaml

from fullchain.pipelines.config.fields import field_default, is_config_class


def commented_yaml(cls: type, sections: typing.Collection[str] | None = None, indent: int = 0) -> str:
    """The defaults of `cls` as YAML with each field's help as a comment above it.

    `sections` limits the top level to those nested sections (plain fields are always shown).
    """
    hints = typing.get_type_hints(cls)
    pad = " " * indent
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if sections is not None and is_config_class(hint) and f.name not in sections:
            continue
        for line in textwrap.wrap(f.metadata.get("help", ""), width=100 - indent):
            out.append(f"{pad}# {line}")
        if is_config_class(hint):
            out.append(f"{pad}{f.name}:")
            out.append(commented_yaml(hint, None, indent + 2))
            continue
        default = field_default(f)
        value = yaml.safe_dump(default, default_flow_style=True, allow_unicode=True, width=10_000).strip()
        value = value.removesuffix("\n...").removesuffix("...").strip()
        out.append(f"{pad}{f.name}: {value}")
    return "\n".join(out)
