"""Settings: the table of every setting (settings_table) and the file and environment that
override its defaults (config_file). ``from ragterm import config; config.load()``."""

from ragterm.config.config_file import (
    MASK,
    Config,
    env_name,
    load,
    lookup,
    read_file,
    remote_api_key,
    set_value,
    shown,
    unset_value,
)
from ragterm.config.settings_table import SETTINGS, Setting

__all__ = [
    "MASK",
    "SETTINGS",
    "Config",
    "Setting",
    "env_name",
    "load",
    "lookup",
    "read_file",
    "remote_api_key",
    "set_value",
    "shown",
    "unset_value",
]
