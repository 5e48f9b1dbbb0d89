"""Turn what goes wrong in an experiment file into located, plain-worded :class:`~chaoskit.errors.Diagnostic` s.

Pydantic reports errors by ``loc`` (a tuple of keys, list indexes and, for unions, the tag or member type it
tried). :func:`validation_diagnostics` removes those union labels, renders the path as the user wrote it
(``faults[1].params.latency``), finds the line and column in the :class:`SourceMap` the loader built, and words
the message for a person: "unknown key 'jiter' (did you mean 'jitter'?)", never "Value error, ..." or a URL.
"""

from __future__ import annotations

import difflib
import json
import pathlib
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from chaoskit.errors import Diagnostic

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError
    from pydantic_core import ErrorDetails

    from chaoskit.experiment.model import Experiment
    from chaoskit.registry import Registry

Path = tuple[str | int, ...]
Position = tuple[int, int]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_PYDANTIC_LABEL = re.compile(r"^[a-z][a-z0-9_-]*\[.*\]$")
_URL = re.compile(r"\s*(For further information visit )?https?://\S+")
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_NAMED_LISTS: tuple[tuple[str, ...], ...] = (
    ("slos",),
    ("faults",),
    ("probes",),
    ("target", "processes"),
    ("proxies",),
    ("rollbacks",),
)


# ------------------------------------------------------------------------------------------------- locations


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a document starts, by document path; 1-based line and column."""

    file: str
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> Position:
        """The position of ``path`` (its key when ``key`` and it has one), else of its nearest located ancestor."""
        p = tuple(path)
        if key and p in self.keys:
            return self.keys[p]
        while p:
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), (1, 1))

    def diagnostic(
        self, path: Sequence[str | int], message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        line, column = self.locate(path, key=key)
        return Diagnostic(self.file, line, column, render_path(path), message, hint)


def render_path(path: Iterable[str | int]) -> str:
    """``("faults", 1, "params", "latency")`` -> ``faults[1].params.latency``; odd keys as ``env["A B"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'jitter'?"`` when a choice is close to ``word``, else None."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def choice_hint(word: str, choices: Iterable[str], what: str) -> str | None:
    """A did-you-mean hint, or the list of ``what`` to choose from (None when there is nothing to choose)."""
    names = sorted(set(choices))
    if not names:
        return None
    return did_you_mean(word, names) or f"{what}: {', '.join(names)}"


def _show(value: Any) -> str:
    """A short rendering of an input value, as YAML would spell it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


# ------------------------------------------------------------------------------------------ walking the model


@dataclass
class _Step:
    """The model type found at the end of a pydantic ``loc``, and the user's path to it."""

    path: list[str | int]
    parent: Any = None  # the type holding the last element (a model class for keys)
    here: Any = None  # the type at the location (None when unknown)
    through_union: bool = False  # a smart (non-discriminated) union was crossed


def _unwrap(tp: Any) -> tuple[Any, str | None]:
    """Strip ``Annotated`` and ``Optional``; return the inner type and its discriminator, if any."""
    from pydantic.fields import FieldInfo

    discriminator: str | None = None
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            args = get_args(tp)
            tp = args[0]
            for meta in args[1:]:
                if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                    discriminator = meta.discriminator
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, discriminator


def _is_model(tp: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tags(members: Iterable[Any], discriminator: str) -> dict[str, Any]:
    """Tag value -> member model, read from each member's ``Literal`` discriminator field."""
    out: dict[str, Any] = {}
    for member in members:
        member, _ = _unwrap(member)
        if not _is_model(member) or discriminator not in member.model_fields:
            continue
        annotation, _ = _unwrap(member.model_fields[discriminator].annotation)
        if get_origin(annotation) is Literal:
            for value in get_args(annotation):
                out[str(value)] = member
    return out


def _union_tags(tp: Any) -> tuple[str | None, dict[str, Any]]:
    """For a discriminated union type (possibly a ``list`` item): its discriminator and tag -> member."""
    tp, discriminator = _unwrap(tp)
    if discriminator is None or get_origin(tp) not in (Union, types.UnionType):
        return None, {}
    return discriminator, _tags(get_args(tp), discriminator)


def _walk(model: Any, loc: Sequence[str | int]) -> _Step:
    """Follow a pydantic ``loc`` through ``model``, dropping the labels pydantic adds for unions and dict keys."""
    step = _Step(path=[], here=model)
    for element in loc:
        tp, discriminator = _unwrap(step.here) if step.here is not None else (None, None)
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            members = get_args(tp)
            if discriminator is not None:
                step.here = _tags(members, discriminator).get(str(element))
            else:
                step.through_union = True
                step.here = None
            continue  # the element is the tag or member label pydantic put in loc
        if tp is None and isinstance(element, str) and (element == "[key]" or _PYDANTIC_LABEL.fullmatch(element)):
            continue
        step.parent = tp
        if tp is not None and _is_model(tp):
            step.path.append(element)
            info = tp.model_fields.get(element) if isinstance(element, str) else None
            if info is None:
                for candidate in tp.model_fields.values():
                    if candidate.alias == element:
                        info = candidate
            step.here = None if info is None else _with_metadata(info)
        elif origin in (list, tuple, set, frozenset, Sequence):
            step.path.append(element)
            args = get_args(tp)
            step.here = args[0] if args else None
        elif origin in (dict, Mapping):
            if element == "[key]":
                step.here = None
                continue
            step.path.append(element)
            args = get_args(tp)
            step.here = args[1] if len(args) == 2 else None
        else:
            step.path.append(element)
            step.here = None
    return step


def _with_metadata(info: Any) -> Any:
    """A field's annotation with its discriminator put back (pydantic moves ``Field(...)`` into ``info``)."""
    from pydantic import Field

    if isinstance(info.discriminator, str):
        return Annotated[info.annotation, Field(discriminator=info.discriminator)]
    return info.annotation


def _model_keys(tp: Any) -> list[str]:
    """The keys a model accepts (aliases where set)."""
    tp, _ = _unwrap(tp)
    if not _is_model(tp):
        return []
    return [info.alias or name for name, info in tp.model_fields.items()]


# -------------------------------------------------------------------------------------------------- messages

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "decimal_parsing": "a number",
    "string_type": "a string",
    "bytes_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "iterable_type": "a list",
    "dict_type": "a mapping",
    "mapping_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
    "none_required": "null",
    "callable_type": "a callable",
    "url_type": "a URL",
    "url_parsing": "a URL",
    "uuid_type": "a UUID",
    "uuid_parsing": "a UUID",
    "date_type": "a date",
    "date_parsing": "a date",
    "datetime_type": "a date and time",
    "datetime_parsing": "a date and time",
    "time_type": "a time",
    "time_parsing": "a time",
    "timedelta_type": "a duration",
    "timedelta_parsing": "a duration",
    "enum": "one of {expected}",
    "literal_error": "{expected}",
}
_BOUNDS = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "finite_number": "must be a finite number",
    "int_parsing_size": "is too large a number",
}


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return _URL.sub("", message).strip()


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _noun(path: Sequence[str | int], discriminator: str) -> str:
    head = path[0] if path else None
    if head == "faults" and discriminator == "type":
        return "fault type"
    if head == "probes" and discriminator == "type":
        return "probe type"
    return discriminator


def _literal_choices(ctx: Mapping[str, Any]) -> list[str]:
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def _describe(error: ErrorDetails, step: _Step) -> tuple[Sequence[str | int], str, str | None, bool]:
    """(path to report, message, hint, locate at the key) for one pydantic error."""
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    path = step.path
    if kind == "missing":
        name = path[-1] if path else "?"
        hint = "start the file with 'version: 1'" if tuple(path) == ("version",) else None
        return path[:-1], f"missing required key {name!r}", hint, False
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        allowed = _model_keys(step.parent)
        hint = did_you_mean(name, allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return path, f"unknown key {name!r}", hint, True
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator, tags = _union_tags(step.here)
        discriminator = discriminator or str(ctx.get("discriminator", "type")).strip("'")
        choices = sorted(tags) or sorted(re.findall(r"'([^']*)'", str(ctx.get("expected_tags", ""))))
        noun = _noun(path, discriminator)
        if kind == "union_tag_not_found":
            hint = f"one of: {', '.join(choices)}" if choices else None
            return path, f"missing required key {discriminator!r}", hint, False
        given = value.get(discriminator) if isinstance(value, Mapping) else ctx.get("tag")
        if not isinstance(given, str):
            hint = f"one of: {', '.join(choices)}" if choices else None
            return [*path, discriminator], f"expected the {noun} as a string, got {_show(given)}", hint, False
        return [*path, discriminator], f"unknown {noun} {given!r}", choice_hint(given, choices, "known"), False
    if kind == "literal_error":
        choices = _literal_choices(ctx)
        if tuple(path) == ("version",):
            return path, f"unsupported format version {_show(value)}", "this chaoskit reads 'version: 1'", False
        if path and path[-1] == "type" and isinstance(value, str) and path[0] in ("faults", "probes"):
            noun = "fault type" if path[0] == "faults" else "probe type"
            return path, f"unknown {noun} {value!r}", choice_hint(value, choices, "known"), False
        hint = did_you_mean(value, choices) if isinstance(value, str) else None
        return path, f"expected {ctx.get('expected', 'another value')}, got {_show(value)}", hint, False
    if kind in _EXPECTED:
        expected = _EXPECTED[kind].format(**ctx) if ctx else _EXPECTED[kind]
        hint = None
        if kind == "string_type" and isinstance(value, int | float | bool):
            hint = "put the value in quotes to make it a string"
        elif kind == "list_type" and isinstance(value, str):
            hint = "write a list: [a, b, c], or one '- item' per line"
        return path, f"expected {expected}, got {_show(value)}", hint, False
    if kind in _BOUNDS:
        return path, f"{_BOUNDS[kind].format(**ctx)}, got {_show(value)}", None, False
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        unit = "character" if kind.startswith("string") else "item"
        if kind.endswith("too_short"):
            least = ctx.get("min_length", 1)
            text = "must not be empty" if least == 1 else f"must have at least {_plural(least, unit)}"
        else:
            text = f"must have at most {_plural(ctx.get('max_length', '?'), unit)}"
        return path, text, None, False
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == _NAME_PATTERN:
            return (
                path,
                f"expected a name of letters, digits, '.', '_' and '-', got {_show(value)}",
                "start with a letter or digit; no spaces",
                False,
            )
        return path, f"must match the pattern {ctx.get('pattern')}, got {_show(value)}", None, False
    return path, _clean(error.get("msg", "invalid value")), None, False


def validation_diagnostics(exc: ValidationError, model: type[BaseModel], source: SourceMap) -> list[Diagnostic]:
    """One diagnostic per pydantic error, located in ``source``; alternatives of a smart union merged."""
    found: dict[tuple[str, int, int], Diagnostic] = {}
    ordered: list[Diagnostic] = []
    for error in exc.errors(include_url=False):
        step = _walk(model, error["loc"])
        path, message, hint, at_key = _describe(error, step)
        diagnostic = source.diagnostic(path, message, hint, key=at_key)
        slot = (diagnostic.path, diagnostic.line, diagnostic.column)
        if step.through_union and slot in found:
            first = found[slot]
            merged = Diagnostic(
                first.file, first.line, first.column, first.path, f"{first.message}; or {message}", first.hint
            )
            ordered[ordered.index(first)] = merged
            found[slot] = merged
            continue
        found.setdefault(slot, diagnostic)
        ordered.append(diagnostic)
    return ordered


# ------------------------------------------------------------------------------------------- cross-checks


def _items(data: Any, path: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    for key in path:
        if not isinstance(data, dict):
            return []
        data = data.get(key)
    if not isinstance(data, list):
        return []
    return [(i, item) for i, item in enumerate(data) if isinstance(item, dict)]


def cross_checks(
    data: dict[str, Any],
    smap: SourceMap,
    registry: Registry,
    experiment: Experiment | None,
    base_dir: pathlib.Path | None = None,
) -> list[Diagnostic]:
    """Checks that span several parts of the file; those on raw data run even when validation failed.

    :param base_dir: where relative paths in the file are taken from (for checks that read a locustfile).
    """
    out: list[Diagnostic] = []
    for path in _NAMED_LISTS:
        seen: dict[str, int] = {}
        for i, item in _items(data, path):
            name = item.get("name")
            if not isinstance(name, str):
                continue
            if name in seen:
                first: tuple[str | int, ...] = (*path, seen[name])
                line = smap.locate((*first, "name"))[0]
                hint = f"first used by {render_path(first)} at line {line}"
                out.append(smap.diagnostic((*path, i, "name"), f"duplicate name {name!r}", hint))
            else:
                seen[name] = i
    listening: dict[str, str] = {}
    for i, item in _items(data, ("proxies",)):
        listen = item.get("listen")
        if isinstance(listen, str):
            if listen in listening:
                message = f"proxy listen address {listen} is already used by proxy {listening[listen]!r}"
                out.append(smap.diagnostic(("proxies", i, "listen"), message))
            else:
                listening[listen] = str(item.get("name"))
    out.extend(_check_load(data, smap, registry))
    if base_dir is not None:
        out.extend(_check_locustfile_shape(data, smap, base_dir))
    probe_names = [item["name"] for _, item in _items(data, ("probes",)) if isinstance(item.get("name"), str)]
    for i, item in _items(data, ("slos",)):
        src = item.get("source")
        if isinstance(src, str) and src != "load" and src not in probe_names:
            sources = choice_hint(src, ["load", *probe_names], "sources")
            out.append(smap.diagnostic(("slos", i, "source"), f"no probe named {src!r}", sources))
    if not registry.faults:
        for i, item in _items(data, ("faults",)):
            kind = item.get("type")
            if isinstance(kind, str):
                hint = "no fault kinds are installed"
                out.append(smap.diagnostic(("faults", i, "type"), f"unknown fault type {kind!r}", hint))
    if experiment is not None:
        out.extend(_fault_problems(experiment, smap))
    return out


def _check_load(data: dict[str, Any], smap: SourceMap, registry: Registry) -> list[Diagnostic]:
    load = data.get("load")
    if not isinstance(load, dict):
        return []
    generator = load.get("generator", "locust")
    if not isinstance(generator, str) or generator in registry.load_generators:
        return []
    hint: str | None
    if generator == "locust":
        hint = "install it with: pip install 'chaoskit[load]'"
    else:
        hint = choice_hint(generator, registry.load_generators, "installed") or "no load generator is installed"
    path = ("load", "generator") if "generator" in load else ("load",)
    return [smap.diagnostic(path, f"unknown load generator {generator!r}", hint)]


def _check_locustfile_shape(data: dict[str, Any], smap: SourceMap, base_dir: pathlib.Path) -> list[Diagnostic]:
    """A locustfile's own LoadTestShape decides users over time: ``load.shape`` conflicts with it, and
    ``users``/``spawn_rate`` have no effect unless the shape reads them (``use_common_options``), as in Locust."""
    load = data.get("load")
    if not isinstance(load, dict) or not isinstance(load.get("locustfile"), str):
        return []
    from chaoskit.load.locustshape import shape_classes_in

    name = load["locustfile"]
    shapes = shape_classes_in(base_dir / name)  # an absolute name replaces base_dir
    if not shapes:
        return []
    shape = shapes[0]
    where = f"the LoadTestShape {shape.name} in {name} (line {shape.line})"
    out = []
    if "shape" in load:
        hint = "a run follows one shape: remove load.shape to follow the locustfile's"
        out.append(smap.diagnostic(("load", "shape"), f"conflicts with {where}", hint))
    if not shape.use_common_options:
        for key in ("users", "spawn_rate"):
            if key in load:
                hint = "remove it, or set use_common_options = True in the shape class to read it (Locust's --users)"
                out.append(smap.diagnostic(("load", key), f"has no effect: {where} decides users and spawn rate", hint))
    return out


def _fault_problems(experiment: Experiment, smap: SourceMap) -> list[Diagnostic]:
    out = []
    for i, fault in enumerate(experiment.faults):
        try:
            problems = fault.problems(experiment)
        except Exception as exc:  # a plugin bug must still end in a diagnostic, not a traceback
            problems = [((), f"the check of fault type {fault.type!r} failed: {exc!r}", "report it to the plugin")]
        for relative, message, hint in problems:
            out.append(smap.diagnostic(("faults", i, *relative), message, hint))
    return out


__all__ = [
    "SourceMap",
    "choice_hint",
    "cross_checks",
    "did_you_mean",
    "render_path",
    "validation_diagnostics",
]
