"""``--config FILE``: a run's fields read from a TOML or JSON file, beneath the command line.

A file holds any subset of ``RunConfig`` in its own shape: run fields at the top level
(``epochs = 50``), ``[model]`` and ``[ontology]`` tables, or a model or ontology field at the top
level where its name says which (``alpha = 0``, routed as ``--set`` routes it). A finished run's
``config.json`` is such a file (its ``run`` block is read), so handing it back reruns the run:
every field it recorded is given, the resolved ones too (epochs, threads, engine, buckets).

Precedence, lowest first: a field's default (a model field's: its preset's), the file, a flag
(``--set`` included). ``sources`` says which one each value of a resolved config came from.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcellx.errors import ConfigError, InputError
from dcellx.fileio import read_text
from dcellx.nn.config import make_config
from dcellx.train.config import DEFAULT_PRESET, PREDATED, RunConfig, RunSpec, route

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser under its earlier name
    import tomli as tomllib

Key = tuple[str, str]  # ("run" | "model" | "ontology", field name)


@dataclass
class ConfigFile:
    """What a config file gives: values by (part, field), each field's line in the file, and
    whether it is a run's recorded ``config.json`` (whose resolved values follow their sources:
    ``split_seed`` the seed, ``model.variant`` the run's variant)."""

    path: Path
    values: dict[Key, Any]
    lines: dict[Key, int] = field(default_factory=dict)
    recorded: bool = False
    dropped: set[Key] = field(default_factory=set)  # recorded values left to their sources

    def error(self, key: Key, problem: str) -> InputError:
        return InputError(self.path, self.lines.get(key), problem)


def _line_of(text: str, name: str) -> int | None:
    """The 1-based line where ``name`` is first assigned (TOML ``name =``, JSON ``"name":``)."""
    pattern = re.compile(rf'^\s*("?){re.escape(name)}\1\s*[=:]', re.M)
    m = pattern.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def read_config_file(path: str | Path) -> ConfigFile:
    """Parse ``path`` (``.json``, else TOML); an unknown key or a malformed file is one
    ``InputError`` naming the file and, where known, the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "config file not found")
    text = read_text(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(path, None, f"invalid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, None, "expected a table of config fields at the top level")
    recorded = isinstance(data.get("run"), dict) and "run" not in RunConfig.model_fields
    if recorded:  # a run's config.json: its run block, as that run ran (``PREDATED``)
        data = {**{k: v for k, v in PREDATED.items() if k not in data["run"]}, **data["run"]}
    out = ConfigFile(path, {}, recorded=recorded)
    for key, value in data.items():
        if key in ("model", "ontology") and isinstance(value, dict):
            items = [(f"{key}.{name}", name, v) for name, v in value.items()]
        else:
            items = [(key, key, value)]
        for dotted, name, v in items:
            line = _line_of(text, name)
            try:
                part = route(dotted)
            except ConfigError as exc:
                raise InputError(path, line, str(exc)) from None
            out.values[part] = v
            if line is not None:
                out.lines[part] = line
    return out


def flag_keys(flags: RunSpec, flag_preset: str | None) -> set[Key]:
    """The (part, field) pairs the command line gave."""
    keys = {("run", k) for k in flags.fields if (k, flags.fields[k]) != ("quiet", False)}
    keys |= {("model", k) for k in flags.model}
    keys |= {("ontology", k) for k in flags.ontology} | {route(k) for k in flags.sets}
    if flag_preset is not None:
        keys.add(("model", "preset"))
    return keys


def beneath_flags(file: ConfigFile, flags: RunSpec, flag_preset: str | None) -> RunSpec:
    """The run the file describes with the command line's flags on top (``flags``: the spec of
    the flags alone; ``flag_preset``: ``--preset`` if given). ``mode`` is left to the command."""
    run = {n: v for (p, n), v in file.values.items() if p == "run" and n != "mode"}
    if run.pop("quiet", None) is not None:  # output, not the run: the command line's -q decides
        file.dropped.add(("run", "quiet"))
    model = {n: v for (p, n), v in file.values.items() if p == "model"}
    onto = {n: v for (p, n), v in file.values.items() if p == "ontology"}
    file_preset = model.pop("preset", None)
    if file.recorded:
        if "split_seed" in run and run["split_seed"] == run.get("seed"):
            del run["split_seed"]  # it followed the seed; it follows a --seed too
            file.dropped.add(("run", "split_seed"))
        if "variant" in model and model["variant"] in (run.get("variant"), "binary"):
            del model["variant"]  # it followed the run's variant
            file.dropped.add(("model", "variant"))
    if flag_preset is not None and file_preset not in (None, flag_preset):
        # another preset: of the file's model fields only those its own preset did not set
        base = make_config(file_preset).model_dump(mode="json")
        file.dropped |= {("model", n) for n, v in model.items() if base.get(n) == v}
        model = {n: v for n, v in model.items() if base.get(n) != v}
    return RunSpec(
        preset=flag_preset or file_preset or DEFAULT_PRESET,
        model={**model, **flags.model},
        ontology={**onto, **flags.ontology},
        fields={**run, **flags.fields},
        sets=flags.sets,
    )


def check_mode(file: ConfigFile, mode: str | None) -> None:
    """A file that names another mode than the command's is refused, not silently changed."""
    given = file.values.get(("run", "mode"))
    if mode is not None and given is not None and given != mode:
        raise file.error(
            ("run", "mode"),
            f"mode = {given!r}, but this is `{mode}`: run it with `dcellx {given}`, or drop mode "
            "from the file",
        )


def attribute(file: ConfigFile, flags: set[Key], exc: ConfigError) -> ConfigError | InputError:
    """A validation error of a value the file gave (not a flag), as an error naming the file."""
    loc = str(exc).split(":", 1)[0].strip()
    parts = loc.split(".")
    key: Key | None = None
    if len(parts) == 2 and parts[0] in ("model", "ontology"):
        key = (parts[0], parts[1])
    elif len(parts) == 1:
        for part in ("run", "model", "ontology"):
            if (part, parts[0]) in file.values:
                key = (part, parts[0])
                break
    if key is None or key not in file.values or key in flags:
        return exc
    return file.error(key, str(exc))


def sources(cfg: RunConfig, file: ConfigFile | None, flags: set[Key]) -> dict[str, str]:
    """Where each value of ``cfg`` came from: ``flag``, ``file``, ``preset`` (a model field the
    preset set) or ``default``; keyed ``field``, ``model.field``, ``ontology.field``."""
    given = set() if file is None else set(file.values) - file.dropped
    out: dict[str, str] = {}
    for name, value in cfg.model_dump(mode="json").items():
        if name in ("model", "ontology"):
            for sub in value:
                key = (name, sub)
                fallback = "preset" if name == "model" else "default"
                out[f"{name}.{sub}"] = (
                    "flag" if key in flags else "file" if key in given else fallback
                )
        else:
            key = ("run", name)
            out[name] = "flag" if key in flags else "file" if key in given else "default"
    out["mode"] = "command"  # the command's name (``config show``: --mode)
    return out


def with_config_file(
    path: str | Path, flags: RunSpec, flag_preset: str | None, mode: str | None
) -> tuple[RunSpec, ConfigFile]:
    """``beneath_flags`` for the file at ``path``, checked: another mode is refused, and a value
    of the file that does not validate is an error naming the file and its line. Returns the
    spec and the file as read (for ``sources``)."""
    file = read_config_file(path)
    check_mode(file, mode)
    spec = beneath_flags(file, flags, flag_preset)
    try:
        spec.config(**({} if mode is None else {"mode": mode}))
    except ConfigError as exc:
        raise attribute(file, flag_keys(flags, flag_preset), exc) from None
    return spec, file
