"""A locustfile's own ``LoadTestShape``, followed as ``locust --headless`` follows it.

Two halves, because they run in different processes:

- :func:`shape_classes_in` reads a locustfile's source (``ast``, never an import: the runner's process must not
  import locust) so that ``chaoskit validate`` can report a conflict with the experiment at its line.
- :func:`shape_share` (load children only; it imports locust) wraps the locustfile's shape so that each of ``parts``
  load children runs its share of the users the shape asks for, and so that the children hear about every new
  level (pacing follows the user count) and about the shape's end.

How a locustfile shape combines with an experiment is documented in docs/load.md ("A locustfile's LoadTestShape").
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHAPE_BASE = "LoadTestShape"


@dataclass(frozen=True)
class ShapeClass:
    """A ``LoadTestShape`` subclass found in a locustfile's source."""

    name: str
    line: int
    use_common_options: bool


MAX_SOURCE = 16 * 2**20  # bytes of locustfile source read to look for shapes


def shape_classes_in(path: str | Path) -> list[ShapeClass]:
    """The non-abstract ``LoadTestShape`` subclasses a locustfile defines, in source order (Locust runs the first).

    A class counts when a base is named ``LoadTestShape`` (``locust.LoadTestShape`` too) or is a shape class
    defined earlier in the same file. A shape imported from another module is not seen here; the load child,
    which loads the file with Locust, still finds it. An unreadable or invalid file gives ``[]``: the child
    reports it with Locust's own error.
    """
    file = Path(path)
    try:
        if not file.is_file() or file.stat().st_size > MAX_SOURCE:  # a device, a FIFO, or no locustfile at all
            return []
        tree = ast.parse(file.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    shapes: dict[str, ShapeClass] = {}
    found: list[ShapeClass] = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        parents = [_base_name(b) for b in node.bases]
        inherited = [shapes[p] for p in parents if p in shapes]
        if SHAPE_BASE not in parents and not inherited:
            continue
        common = _class_flag(node, "use_common_options")
        if common is None:
            common = any(s.use_common_options for s in inherited)
        shape = ShapeClass(node.name, node.lineno, common)
        shapes[node.name] = shape
        if not _class_flag(node, "abstract"):
            found.append(shape)
    return found


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _class_flag(node: ast.ClassDef, name: str) -> bool | None:
    """The value of ``name = True/False`` in a class body, or None when the class does not set it."""
    for stmt in node.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            targets, value = [stmt.target], stmt.value
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and isinstance(value, ast.Constant):
            return bool(value.value)
    return None


def user_share(users: int, part: int, parts: int) -> int:
    """Child ``part``'s share of ``users``, split as :meth:`chaoskit.load.shapes.Level.split` splits them."""
    base, extra = divmod(users, parts)
    return base + (1 if part < extra else 0)


def shape_share(
    shape: Any,
    part: int,
    parts: int,
    *,
    on_level: Callable[[int], None],
    on_end: Callable[[], None],
) -> Any:
    """A ``LoadTestShape`` instance that runs ``shape`` for child ``part`` of ``parts``.

    Each tick asks ``shape`` for the whole run's users and spawn rate and returns this child's share of both
    (user classes unchanged). ``on_level(users)`` is called with the share whenever it changes, ``on_end()``
    once when ``shape`` returns None (the test is over, as in ``locust --headless``).
    """
    from locust import LoadTestShape

    class ShapeShare(LoadTestShape):
        abstract = False

        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.inner = shape
            self.last: int | None = None
            self.ended = False

        def reset_time(self) -> None:
            super().reset_time()  # type: ignore[no-untyped-call]
            self.inner.reset_time()

        def tick(self) -> tuple[Any, ...] | None:
            self.inner.runner = self.runner
            tick = self.inner.tick()
            if tick is None:
                if not self.ended:
                    self.ended = True
                    on_end()
                return None
            users = user_share(int(tick[0]), part, parts)
            if users != self.last:
                self.last = users
                on_level(users)
            return (users, float(tick[1]) / parts, *tick[2:])

    ShapeShare.__name__ = ShapeShare.__qualname__ = f"{type(shape).__name__}Share"
    return ShapeShare()
