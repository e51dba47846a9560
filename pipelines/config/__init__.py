"""The config system every stage and command shares: one typed config per stage, declared once.

- fields.py: `option(default, help)` declares a config field; walking a config class tree
- loader.py: `load_config` from YAML (through the checked YAML loader: plain values only, no
  duplicate keys, no alias bombs) and flag overrides; `ConfigError` names file:line and key
- flags.py: one command-line flag per config field (`a.b_c` is `--a.b-c`)
- reference.py: the commented reference YAML that `fullchain config` prints
- command.py: `run_command`, the parse -> load -> run -> one-line error skeleton of every CLI

Other packages import from here (`from fullchain.pipelines.config import option, ConfigError`),
never the modules above.
"""

from fullchain.pipelines.config.command import run_command
from fullchain.pipelines.config.fields import field_paths, is_config_class, option, type_name
from fullchain.pipelines.config.flags import add_config_flags, config_overrides, flag_name
from fullchain.pipelines.config.loader import (
    ConfigError, ModelCheckError, compose_yaml, config_to_dict, excerpt, load_config, yaml_value)
from fullchain.pipelines.config.reference import commented_yaml

__all__ = [
    "ConfigError", "ModelCheckError", "add_config_flags", "commented_yaml", "compose_yaml", "config_overrides",
    "config_to_dict", "excerpt", "field_paths", "flag_name", "is_config_class", "load_config", "option",
    "run_command", "type_name", "yaml_value",
]
