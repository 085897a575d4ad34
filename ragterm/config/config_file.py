"""Settings: defaults, overridden by the TOML file, overridden by ``RAGTERM_*`` variables.

The environment variable for a key is ``RAGTERM_`` + the key upper-cased with dots as double
underscores (``RAGTERM_CHAT__TEMPERATURE``). Every value is validated against its entry in
``settings_table``, so a typo fails loudly and early.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragterm import paths
from ragterm.config.settings_table import SETTINGS, Setting
from ragterm.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    key = setting.key
    bad = ConfigError(
        f"{origin}: invalid value {value!r} for {key}",
        hint=f"expected {setting.rule or setting.type.__name__}"
        + (f" (one of: {', '.join(setting.choices)})" if setting.choices else ""),
    )
    t = setting.type
    try:
        if t is bool:
            if isinstance(value, bool):
                out: Any = value
            elif isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
                out = True
            elif isinstance(value, str) and value.lower() in {"0", "false", "no", "off"}:
                out = False
            else:
                raise bad
        elif t is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise bad
            out = int(value)
        elif t is float:
            if isinstance(value, bool):
                raise bad
            out = float(value)
        elif t is list:
            if isinstance(value, str):
                out = [v for v in value.split(",") if v] if value else []
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                out = list(value)
            else:
                raise bad
        else:
            if not isinstance(value, str):
                raise bad
            out = value
    except (TypeError, ValueError):
        raise bad from None
    if setting.choices and out not in setting.choices:
        raise bad
    if setting.check and not setting.check(out):
        raise bad
    return out


MASK = "********"


def shown(key: str, value: Any) -> Any:
    """``value`` as ``config`` may print it: secrets are masked (an unset one stays empty)."""
    return MASK if SETTINGS[key].secret and value else value


def remote_api_key(cfg: Config) -> str:
    """The remote server's key: ``remote.api_key`` (file or RAGTERM_REMOTE__API_KEY), else the
    first line of ``remote.api_key_file``, else empty."""
    if cfg["remote.api_key"]:
        return str(cfg["remote.api_key"])
    name = cfg["remote.api_key_file"]
    if not name:
        return ""
    path = Path(name).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip().splitlines()[0].strip()
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        why = getattr(exc, "strerror", None) or ("empty" if isinstance(exc, IndexError) else exc)
        raise ConfigError(
            f"cannot read the API key file {path}: {why}",
            hint="put the key on its first line, or fix remote.api_key_file",
        ) from None


def lookup(key: str) -> Setting:
    try:
        return SETTINGS[key]
    except KeyError:
        close = difflib.get_close_matches(key, SETTINGS, n=1)
        hint = f"did you mean {close[0]}?" if close else "see `ragterm config show` for all keys"
        raise ConfigError(f"unknown config key {key!r}", hint=hint) from None


def env_name(key: str) -> str:
    return "RAGTERM_" + key.upper().replace(".", "__")


def read_file(path: Path | None = None) -> dict[str, Any]:
    """The raw TOML of the config file flattened to dotted keys ({} if there is none)."""
    path = path or paths.config_file()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc}", hint="fix its permissions or delete it"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}",
            hint="fix the line named, or run `ragterm config path` and edit it",
        ) from None
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                walk(key, v)
            else:
                flat[key] = v

    walk("", data)
    return flat


@dataclass
class Config:
    """Validated settings. Access with ``cfg["chat.temperature"]``; a key that is not in
    ``SETTINGS`` raises ``ConfigError`` (naming the closest key), with ``[]`` and ``get`` alike,
    so a misspelt key fails the first test that reaches it instead of reading a default."""

    values: dict[str, Any]
    origins: dict[str, str]

    def __getitem__(self, key: str) -> Any:
        return self.values[lookup(key).key]

    def get(self, key: str, default: Any = None) -> Any:
        """Like ``[]``; ``default`` only for a known key without a value."""
        return self.values.get(lookup(key).key, default)

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with some dotted keys replaced (``{"chat.temperature": 0}``), validated."""
        values = dict(self.values)
        origins = dict(self.origins)
        for key, value in overrides.items():
            setting = lookup(key)
            values[key] = _coerce(setting, value, "override")
            origins[key] = "override"
        return Config(values, origins)


def load(path: Path | None = None) -> Config:
    """Defaults < config file < environment. Raises ``ConfigError`` naming the bad key or value."""
    path = path or paths.config_file()
    values = {k: s.default for k, s in SETTINGS.items()}
    origins = {k: "default" for k in SETTINGS}
    for key, raw in read_file(path).items():
        try:
            setting = lookup(key)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}", hint=exc.hint) from None
        values[key] = _coerce(setting, raw, str(path))
        origins[key] = str(path)
    for key, setting in SETTINGS.items():
        name = env_name(key)
        if name in os.environ:
            values[key] = _coerce(setting, os.environ[name], name)
            origins[key] = name
    return Config(values, origins)


def _write_file(flat: dict[str, Any], path: Path) -> None:
    # lazy: tomli_w loads only when this runs
    import tomli_w

    nested: dict[str, Any] = {}
    for k, v in flat.items():
        node = nested
        *parents, leaf = k.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    if path.parent == paths.config_dir():  # ours; a RAGTERM_CONFIG folder is the user's
        paths.ensure_private_dir(path.parent)
    else:
        paths.ensure_dir(path.parent)
    tmp = path.with_suffix(".toml.tmp")
    try:
        # owner-only from the first byte: the file may hold remote.api_key
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(tomli_w.dumps(nested))
        paths.make_private(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write config file {path}: {exc.strerror or exc}",
            hint="check the folder's permissions or free disk space",
        ) from exc


def set_value(key: str, raw: str, path: Path | None = None) -> Any:
    """Validate ``raw`` for ``key`` and write it to the config file, keeping the other keys."""
    path = path or paths.config_file()
    value = _coerce(lookup(key), raw, "value")
    flat = read_file(path)
    flat[key] = value
    _write_file(flat, path)
    return value


def unset_value(key: str, path: Path | None = None) -> None:
    """Remove ``key`` from the file so its default (or environment value) applies again."""
    path = path or paths.config_file()
    lookup(key)
    flat = read_file(path)
    if key in flat:
        del flat[key]
        _write_file(flat, path)
