"""YAML → ``ShadowgateConfig`` with every error located as ``file:line: key.path: message``.

The YAML is composed into nodes first so each value keeps its line; ``${VAR}`` and
``${VAR:-default}`` are expanded in string scalars; then pydantic validates, and each of
its errors is mapped back to the line of the key it concerns. Unknown keys get a
"did you mean" from the names valid at that place.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from shadowgate.config.advice import advice_warnings
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.units import error_hint, unit_warnings
from shadowgate.errors import ConfigError, ConfigProblem

log = logging.getLogger(__name__)

Loc = tuple[str | int, ...]
#: a check of a valid config that reads more than the config itself (e.g. the files it
#: names): its problems, each on the key path it concerns, are located like the others
ConfigCheck = Callable[[ShadowgateConfig], list[tuple[Loc, str]]]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Located:
    """Values of the YAML document plus the line of every key path."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}


def _construct(node: yaml.Node, loc: Loc, out: _Located, problems: list[tuple[Loc, str]]) -> Any:
    out.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append((loc, "YAML merge keys (<<) are not supported"))
                continue
            key = (
                _scalar(key_node, loc, problems) if isinstance(key_node, yaml.ScalarNode) else None
            )
            if not isinstance(key, str | int):
                problems.append((loc, "mapping keys must be plain strings"))
                continue
            child = (*loc, key)
            if key in result:
                out.lines[child] = key_node.start_mark.line + 1
                problems.append((child, "duplicate key (the YAML sets it twice)"))
            out.lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, out, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            items.append(_construct(item, (*loc, i), out, problems))
        return items
    assert isinstance(node, yaml.ScalarNode)
    value = _scalar(node, loc, problems)
    if isinstance(value, str):
        value = _interpolate(value, loc, problems)
    return value


def _scalar(node: yaml.ScalarNode, loc: Loc, problems: list[tuple[Loc, str]]) -> Any:
    """A scalar's plain value; an unknown tag (``!foo``, a bare ``=``) is a located problem."""
    try:
        return yaml.safe_load(yaml.serialize(node))
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        problems.append((loc, f"cannot read this value ({problem}): quote it or remove the tag"))
        return None


def _interpolate(text: str, loc: Loc, problems: list[tuple[Loc, str]]) -> str:
    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        problems.append(
            (loc, f"environment variable {name} is not set (set it, or write ${{{name}:-default}})")
        )
        return ""

    return _VAR.sub(repl, text)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_for(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _data_loc(raw: Loc, data: Any) -> Loc:
    """Drop pydantic's union/type tags from an error location, keeping real keys."""
    out: list[str | int] = []
    cur = data
    for part in raw:
        is_key = isinstance(cur, dict) and part in cur
        is_index = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if is_key or is_index:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and not _is_type_tag(part):
            out.append(part)  # a missing or extra key: still a real key name
            cur = None
        else:
            continue
    return tuple(out)


def _is_type_tag(part: str) -> bool:
    return part[:1].isupper() or part in {"str", "int", "float", "bool", "none", "list", "dict"}


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class whose fields are valid at ``loc`` (for "did you mean")."""
    current: Any = ShadowgateConfig
    for part in loc:
        if isinstance(part, int):
            continue
        model = _as_model(current)
        if model is None or part not in model.model_fields:
            return None
        current = model.model_fields[part].annotation
    return _as_model(current)


def _as_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, tuple, list, typing.Annotated):
        for arg in typing.get_args(tp):
            found = _as_model(arg)
            if found is not None:
                return found
    return None


def _message(err: Mapping[str, Any], loc: Loc) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        parent = _model_at(loc[:-1])
        valid = sorted(parent.model_fields) if parent else []
        guess = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        known = f" (valid keys: {', '.join(valid)})" if valid else ""
        return f"unknown key {key!r}{hint}{known}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"{msg} (got {err.get('input')!r})"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def _cross_checks(data: Any) -> list[tuple[Loc, str]]:
    """Checks across routes, located on the offending key (the model repeats them unlocated)."""
    problems: list[tuple[Loc, str]] = []
    routes = data.get("routes") if isinstance(data, dict) else None
    if not isinstance(routes, list):
        return problems
    names: dict[Any, int] = {}
    prefixes: dict[Any, int] = {}
    for i, r in enumerate(routes):
        if not isinstance(r, dict):
            continue
        name = r.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(
                    (
                        ("routes", i, "name"),
                        f"duplicate route name {name!r} (also routes[{names[name]}])",
                    )
                )
            names.setdefault(name, i)
        match = r.get("match")
        prefix = match.get("path_prefix") if isinstance(match, dict) else None
        if isinstance(prefix, str):
            if prefix in prefixes:
                problems.append(
                    (
                        ("routes", i, "match", "path_prefix"),
                        f"path_prefix {prefix!r} is also used by routes[{prefixes[prefix]}]; "
                        "which route serves it would be ambiguous",
                    )
                )
            prefixes.setdefault(prefix, i)
    return problems


def parse_config(
    text: str, filename: str = "<config>", checks: Sequence[ConfigCheck] = ()
) -> ShadowgateConfig:
    """Parse and validate YAML text; raise ``ConfigError`` listing every located problem.

    ``checks`` run on the valid config; what they find is located and raised the same way.
    """
    return parse_config_warnings(text, filename, checks)[0]


def parse_config_warnings(
    text: str, filename: str = "<config>", checks: Sequence[ConfigCheck] = ()
) -> tuple[ShadowgateConfig, list[ConfigProblem]]:
    """``parse_config`` plus the located warnings of a valid config (ambiguous units)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        msg = "invalid YAML: nested too deeply"
        raise ConfigError([ConfigProblem(filename, None, "", msg)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(filename, line, "", f"invalid YAML: {problem}")]) from None
    located = _Located()
    raw_problems: list[tuple[Loc, str]] = []
    try:
        data: Any = {} if node is None else _construct(node, (), located, raw_problems)
    except RecursionError:
        msg = "invalid YAML: nested too deeply"
        raise ConfigError([ConfigProblem(filename, None, "", msg)]) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(filename, 1, "", "the config must be a mapping (key: value lines)")]
        )
    raw_problems.extend(_cross_checks(data))
    try:
        config = ShadowgateConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _data_loc(tuple(err["loc"]), data)
            if not loc and raw_problems and str(err["msg"]).find("routes[") >= 0:
                continue  # already reported, located, by _cross_checks
            msg = _message(err, loc)
            hint = error_hint(loc, err.get("input"))
            raw_problems.append((loc, f"{msg} ({hint})" if hint else msg))
        config = None
    if config is not None and not raw_problems:
        raw_problems.extend(p for check in checks for p in check(config))
    if raw_problems:
        problems = [
            ConfigProblem(filename, _line_for(loc, located.lines), format_loc(loc), msg)
            for loc, msg in raw_problems
        ]
        problems.sort(key=lambda p: (p.line or 0, p.path))
        raise ConfigError(problems)
    assert config is not None
    warnings = [
        ConfigProblem(filename, _line_for(loc, located.lines), format_loc(loc), msg)
        for loc, msg in [*unit_warnings(data), *advice_warnings(config)]
    ]
    return config, sorted(warnings, key=lambda p: (p.line or 0, p.path))


def load_config(
    path: str | os.PathLike[str], checks: Sequence[ConfigCheck] = ()
) -> ShadowgateConfig:
    """Read and validate a config file; ``ConfigError`` says what and where.

    Warnings (a valid config with an ambiguous unit) go to the log, one located line
    each, so a live reload shows them too; ``check-config`` prints them. ``checks`` as
    for :func:`parse_config`.
    """
    config, warnings = load_config_warnings(path, checks)
    for w in warnings:
        log.warning("config warning: %s", w)
    return config


def load_config_warnings(
    path: str | os.PathLike[str], checks: Sequence[ConfigCheck] = ()
) -> tuple[ShadowgateConfig, list[ConfigProblem]]:
    """``load_config`` returning its warnings instead of logging them."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(str(p), None, "", f"cannot read config: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem(str(p), None, "", "config is not UTF-8 text")]) from None
    return parse_config_warnings(text, str(p), checks)
