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

_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_BODY = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?$", re.DOTALL)
_SYNTAX_HINT = "write ${NAME} or ${NAME:-default}; $${ stands for a literal ${"


@dataclass(frozen=True)
class SubstitutionProblem:
    """A reference that could not be replaced; ``offset`` is where it starts in the original string."""

    offset: int
    message: str
    hint: str | None = None


def substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[SubstitutionProblem]]:
    """``text`` with every reference replaced from ``env``, and the problems met on the way.

    An unset variable without a default is replaced by the empty string (and reported), so a caller may go on
    validating the rest of the document.
    """
    if "${" not in text:
        return text, []
    problems: list[SubstitutionProblem] = []

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        body = match.group("body")
        if body is None:
            problems.append(SubstitutionProblem(match.start(), "unterminated ${ reference", _SYNTAX_HINT))
            return whole
        m = _BODY.match(body)
        if m is None:
            problems.append(SubstitutionProblem(match.start(), f"malformed reference {whole!r}", _SYNTAX_HINT))
            return whole
        name, default = m.group("name"), m.group("default")
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            problems.append(
                SubstitutionProblem(
                    match.start(),
                    f"environment variable {name!r} is not set",
                    f"set it, or give a default: ${{{name}:-value}}",
                )
            )
            return ""
        return value

    return _REFERENCE.sub(replace, text), problems


__all__ = ["SubstitutionProblem", "substitute"]
