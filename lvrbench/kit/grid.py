"""One grid expander for every task: axes declared as data, a per-point skip with its reason, jobs by axes.

A task declares its grid as a sequence of `Axis` (after benchopt's `parameters` and asv's `params`): each axis has a
name and gives its values at a partial point (the earlier axes chosen), so an axis may depend on the ones before it
(a method's grid rows on the method, a generator's seeds on its dataset). `expand` walks the product in order; a
`skip` function may leave a point out with its reason, or refuse the whole request when the user named exactly what
cannot run (`Skip(reason, refuse=True)`: one UsageError before any work). `jobs` groups the points into the jobs a
task computes together and builds each cell's config in the one shape every task uses (`cell_config`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..api.contracts import Cell, Job, Plugin, Request, Task
from ..base.errors import UsageError


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: its `name` and its values at a partial point (a dict of the earlier axes' values)."""

    name: str
    values: Callable[[dict[str, Any]], Iterable[Any]]


@dataclass(frozen=True)
class Skip:
    """Why a point is left out; with `refuse`, the user named exactly this point and the request is refused."""

    reason: str
    refuse: bool = False


def expand(axes: Sequence[Axis], skip: Callable[[dict[str, Any]], Skip | None] | None = None) -> Iterator[dict[str, Any]]:
    """Every full point of the grid, in axis order, without the points `skip` leaves out (a refusing skip raises
    its reason as a UsageError)."""
    def walk(point: dict[str, Any], rest: Sequence[Axis]) -> Iterator[dict[str, Any]]:
        if not rest:
            yield point
            return
        for value in rest[0].values(point):
            yield from walk({**point, rest[0].name: value}, rest[1:])

    for point in walk({}, axes):
        why = skip(point) if skip is not None else None
        if why is None:
            yield point
        elif why.refuse:
            raise UsageError(why.reason)


def product(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """The cartesian product of named value lists, as dicts in order (a hyper-parameter grid's rows)."""
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def cell_config(request: Request, task: Task, *, dataset: str, family: str, prior: str, method: str,
                hparams: dict, seed: int, settings: dict, plugins: dict[str, Plugin | None]) -> dict:
    """A cell config in the one shape every task uses: what the cell is, its settings (the artifacts' specs and the
    protocol), the revisions of the code that computes it (`code`) and the digest of its dataset (`data`).

    Numeric hyper-parameters become floats and -0.0 becomes 0.0, so that 1, 1.0 and --set x=1 (and 0 and -0)
    are one cell, not two with the same numbers.
    """
    hparams = {k: float(v) + 0.0 if isinstance(v, (int, float)) and not isinstance(v, bool) else v
               for k, v in sorted(hparams.items())}
    return {
        "task": task.name, "profile": request.profile, "dataset": dataset, "family": family, "prior": prior,
        "method": method, "hparams": hparams, "seed": seed, "settings": settings,
        "code": request.code(task=task, **plugins), "data": request.fingerprint(dataset),
    }


def jobs(task: Task, request: Request, points: Iterable[dict[str, Any]], job_by: Sequence[str],
         cell: Callable[[dict[str, Any]], dict], label: Callable[[dict[str, Any], int], str]) -> list[Job]:
    """The points grouped into jobs by the axes `job_by` (in first-seen order), each point a cell whose config
    `cell(point)` builds; `label(first point, number of cells)` names a job in progress lines."""
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for point in points:
        grouped.setdefault(tuple(_key(point[name]) for name in job_by), []).append(point)
    return [Job(task.name, label(members[0], len(members)), [Cell(cell(p)) for p in members])
            for members in grouped.values()]


def _key(value: Any) -> Any:
    """A hashable stand-in for an axis value (plugins by identity, dicts by their items)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return id(value)
    return value
