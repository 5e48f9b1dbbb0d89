"""``${VAR}`` substitution in experiment strings.

``${NAME}`` is replaced by the variable's value, ``${NAME:-default}`` by the default when the variable is unset or
empty (as in a POSIX shell), and ``$${`` stands for a literal ``${``. Nothing else is special: a lone ``$`` stays.
Problems (an unset variable without default, a malformed reference) are returned with their offset in the string,
never raised, so the loader can report all of them with a location.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYNTAX_HINT = "write ${NAME} or ${NAME:-default}; $${ stands for a literal ${"


@dataclass(frozen=True)
class SubstitutionProblem:
    """A reference that could not be replaced; ``offset`` is where it starts in the original string."""

    offset: int
    message: str
    hint: str | None = None


def substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[SubstitutionProblem]]:
    """``text`` with every reference replaced from ``env``, and the problems met on the way.

    A default may itself hold references (``${A:-${B:-x}}``). An unset variable without a default is replaced by
    the empty string (and reported), so a caller may go on validating the rest of the document.
    """
    if "${" not in text:
        return text, []
    problems: list[SubstitutionProblem] = []
    return _expand(text, 0, env, problems), problems


def _expand(text: str, base: int, env: Mapping[str, str], problems: list[SubstitutionProblem]) -> str:
    out: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        if text.startswith("$${", j):
            out.append("${")
            i = j + 3
        elif not text.startswith("${", j):
            out.append("$")
            i = j + 1
        else:
            end = _closing_brace(text, j + 2)
            if end < 0:
                problems.append(SubstitutionProblem(base + j, "unterminated ${ reference", _SYNTAX_HINT))
                out.append(text[j:])
                return "".join(out)
            out.append(_reference(text[j + 2 : end], base + j, env, problems))
            i = end + 1


def _closing_brace(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def _reference(body: str, at: int, env: Mapping[str, str], problems: list[SubstitutionProblem]) -> str:
    name, has_default, default = body.partition(":-")
    if not _NAME.fullmatch(name):
        problems.append(SubstitutionProblem(at, f"malformed reference {'${' + body + '}'!r}", _SYNTAX_HINT))
        return "${" + body + "}"
    value = env.get(name)
    if has_default and not value:
        return _expand(default, at + len(name) + 4, env, problems)
    if value is None:
        hint = f"set it, or give a default: ${{{name}:-value}}"
        problems.append(SubstitutionProblem(at, f"environment variable {name!r} is not set", hint))
        return ""
    return value


__all__ = ["SubstitutionProblem", "substitute"]
