"""The plugin registry: loads the `lvrbench` entry-point group, one entry point at a time.

A plugin that fails to import, returns an object of the wrong kind or reuses a taken name is
reported in one line naming its entry point and distribution, and everything else still loads.
Whatever plugin code raises (SystemExit included) is such a failure; only KeyboardInterrupt gets
through (plugin code runs under `lvrbench.base.guard.guarded`). With LVRBENCH_STRICT_PLUGINS=1 (or true,
yes, on) the first such problem is an error instead (`PluginError`, exit code 3).
"""
from __future__ import annotations

import difflib
import inspect
import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Iterable

import pluggy

from ..api import hookspecs
from ..api.contracts import (HOOKS, KIND_CLASSES, KINDS, METHOD_KINDS, NAME, RECOVERY_KINDS, SINGULAR, Method, Param,
                             Parametrised, Plugin, Pretrained, Regularizer, Resampler)
from ..api.priors import PRIORS, REQUIREMENTS
from ..base.errors import PluginError, UsageError, one_line, squash
from ..base.guard import guarded

GROUP = "lvrbench"
BUILTIN_DISTRIBUTION = "lvrbench"
#: Kinds whose names share one namespace, because a cell's `family` names either: a family or a pretrained generator.
GENERATOR_KINDS = ("families", "generators")
STRICT_VARIABLE = "LVRBENCH_STRICT_PLUGINS"
STRICT_ON = ("1", "true", "yes", "on")
STRICT_OFF = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Entry:
    """A registered plugin object and where it came from."""

    kind: str
    name: str
    obj: Plugin
    distribution: str
    version: str
    entry_point: str


@dataclass(frozen=True)
class LoadError:
    """A plugin that could not be registered, and why."""

    entry_point: str
    distribution: str
    version: str
    message: str

    def line(self) -> str:
        """The one-line report of this broken plugin, naming its entry point and distribution."""
        return f"plugin entry point {self.entry_point!r} ({self.distribution} {self.version}): {self.message}"


def unknown_name(what: str, name: str, choices: Iterable[str]) -> UsageError:
    """The one-line error for a name nobody registered, with a "did you mean" hint."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return UsageError(f"unknown {what} {name!r}; did you mean {close[0]!r}?")
    return UsageError(f"unknown {what} {name!r} (known: {', '.join(choices)})" if choices else f"unknown {what} {name!r} (none is registered)")


class Registry:
    """Every loaded plugin by kind and name, plus the entry points that failed."""

    def __init__(self, entries: list[Entry], errors: list[LoadError], strict: bool = False):
        self._by_kind: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        for entry in entries:
            self._by_kind[entry.kind][entry.name] = entry
        self.errors = list(errors)
        #: Whether a broken plugin is an error (LVRBENCH_STRICT_PLUGINS=1) rather than skipped with a warning.
        self.strict = strict

    def drop(self, kind: str, name: str, message: str) -> LoadError:
        """Unregister a plugin found broken after loading (a generator whose weights do not load): it is reported and
        skipped like one that failed to load, or, strictly, a PluginError."""
        entry = self._by_kind[kind].pop(name)
        error = LoadError(entry.entry_point, entry.distribution, entry.version, message)
        if self.strict:
            raise PluginError(error.line() + f" ({STRICT_VARIABLE}=1)")
        self.errors.append(error)
        return error

    def add(self, entry: Entry) -> None:
        """Register one more plugin (a --checkpoint's generator); a name already taken is a UsageError."""
        space = next((group for group in (METHOD_KINDS, GENERATOR_KINDS) if entry.kind in group), (entry.kind,))
        for kind in space:
            if entry.name in self._by_kind[kind]:
                holder = self._by_kind[kind][entry.name]
                raise UsageError(f"{entry.entry_point}: {SINGULAR[entry.kind]} name {entry.name!r} is already taken by "
                                 f"the {SINGULAR[kind]} of {holder.distribution} {holder.version}")
        self._by_kind[entry.kind][entry.name] = entry

    def entries(self, kind: str) -> list[Entry]:
        """The registered plugins of `kind`, by name."""
        return sorted(self._by_kind[kind].values(), key=lambda e: e.name)

    def names(self, kind: str) -> list[str]:
        """The registered names of `kind`, sorted."""
        return sorted(self._by_kind[kind])

    def entry(self, kind: str, name: str) -> Entry:
        """The entry of `name` in `kind`; a UsageError with a suggestion when there is none."""
        try:
            return self._by_kind[kind][name]
        except KeyError:
            raise unknown_name(SINGULAR[kind], name, self._by_kind[kind]) from None

    def get(self, kind: str, name: str) -> Plugin:
        """The plugin object called `name`; an unknown name is a UsageError with "did you mean"."""
        return self.entry(kind, name).obj

    def method(self, name: str) -> Method:
        """A regularizer or resampler by name (they share one namespace)."""
        for kind in RECOVERY_KINDS:
            if name in self._by_kind[kind]:
                return self._by_kind[kind][name].obj
        raise unknown_name("method", name, [n for kind in RECOVERY_KINDS for n in self.names(kind)])

    def provenance(self, obj: Plugin) -> str:
        """"distribution version" of the package that registered `obj`."""
        entry = self._by_kind[obj.kind][obj.name]
        return f"{entry.distribution} {entry.version}"

    def identity(self, obj: Plugin) -> dict:
        """What a cell's `code` records of `obj`: the distribution that registered it and the plugin's revision (its
        version is provenance: a release that changes no number keeps every cell)."""
        entry = self._by_kind[obj.kind][obj.name]
        return {"distribution": entry.distribution, "revision": obj.revision}

    def versions(self, objects: Iterable[Plugin]) -> dict[str, str]:
        """The installed version of each distribution behind `objects`, for provenance."""
        out = {}
        for obj in objects:
            entry = self._by_kind[obj.kind][obj.name]
            out[entry.distribution] = entry.version
        return dict(sorted(out.items()))

    def call(self, obj: Plugin, hook: str, *args: Any) -> Any:
        """obj.<hook>(*args), where a plugin's own failure becomes a PluginError naming it (bad input passes through)."""
        outcome = guarded(getattr(obj, hook), *args)
        if outcome.ok:
            return outcome.value
        if isinstance(outcome.error, UsageError):
            raise outcome.error
        raise PluginError(f"{SINGULAR[obj.kind]} {obj.name} ({self.provenance(obj)}) failed in {hook}: "
                          f"{one_line(outcome.error, 200)}") from None

    def to_json(self) -> dict:
        """The `lvrbench list --json` document."""
        doc: dict = {}
        for kind in KINDS:
            rows = []
            for e in self.entries(kind):
                row = {"name": e.name, "plugin": e.distribution, "version": e.version, "summary": e.obj.summary}
                if isinstance(e.obj, Parametrised):
                    row["requires"] = e.obj.requires
                if isinstance(e.obj, Parametrised):
                    row["params"] = {p.name: list(p.grid) for p in e.obj.params}
                if isinstance(e.obj, Pretrained):
                    row.update(dataset=e.obj.dataset, prior=e.obj.prior, latent_dim=e.obj.latent_dim,
                               family=e.obj.family, networks=sorted(e.obj.networks))
                if getattr(e.obj, "params", ()):  # methods and samplers: each hyper-parameter's grid, range and doc
                    row["hyperparameters"] = {p.name: {"grid": list(p.grid), "minimum": p.minimum,
                                                       "exclusive_minimum": p.exclusive_minimum, "maximum": p.maximum,
                                                       "doc": p.doc} for p in e.obj.params}
                if e.obj.source:
                    row["source"] = e.obj.source
                rows.append(row)
            doc[kind] = rows
        doc["errors"] = [{"entry_point": x.entry_point, "plugin": x.distribution, "version": x.version, "message": x.message}
                         for x in self.errors]
        return doc


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution", "?"
    return dist.metadata["Name"] or "unknown distribution", dist.version or "?"


def _check_object(kind: str, obj: object) -> tuple[str, str | None]:
    """`obj`'s name and why it cannot be registered as a `kind` (None when it can); runs plugin code."""
    cls = KIND_CLASSES[kind]
    if not isinstance(obj, cls):
        return "", f"returned {squash(repr(obj), 80)} from {HOOKS[kind]}, which is not a lvrbench.api.{cls.__name__}"
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return "", f"returned a {cls.__name__} with an invalid name {name!r} (lower-case letters, digits, '.', '_', '-')"
    for field in ("summary", "source"):  # read here, under the guard, so that `lvrbench list` can show them
        if not isinstance(getattr(obj, field), str):
            return name, f"{name}: {field} must be a string, got {squash(repr(getattr(obj, field)), 60)}"
    revision = obj.revision
    if type(revision) is not int or revision < 1:
        return name, f"{name}: revision must be a positive integer, got {squash(repr(revision), 60)}"
    if isinstance(obj, Parametrised) and obj.requires not in REQUIREMENTS:
        return name, f"{name}: requires={obj.requires!r} is not one of {', '.join(REQUIREMENTS)}"
    if problem := _signature_problem(obj):
        return name, problem
    if isinstance(obj, Parametrised):
        return name, _params_problem(name, obj.params)
    if isinstance(obj, Pretrained):
        return name, _pretrained_problem(obj)
    return name, None


#: The hooks whose signature changed in 0.5.0 (one context argument), with the one they take now.
SIGNATURES = {Regularizer: ("loss", "loss(self, z, ctx)"), Resampler: ("apply", "apply(self, z, ctx)")}


def _signature_problem(obj: Plugin) -> str | None:
    """Why a method's `loss`/`apply` cannot be called the 0.5.0 way (z, ctx), or None: a 0.4 plugin is one line."""
    for cls, (hook, wanted) in SIGNATURES.items():
        if isinstance(obj, cls):
            try:
                inspect.signature(getattr(obj, hook)).bind(None, None)
            except TypeError:
                return (f"{obj.name}: {hook} must take (z, ctx) since lvrbench 0.5.0 (def {wanted}); its signature is "
                        f"{hook}{inspect.signature(getattr(obj, hook))}")
            except ValueError:  # no signature to read (a builtin): called as it is
                return None
    return None


def _pretrained_problem(obj: Pretrained) -> str | None:
    """Why a pretrained generator's declarations are unusable (read at registration, so `list` can show them), or None."""
    name = obj.name
    if not obj.source.strip():
        return f"{name}: source must say where it comes from (a URL, a paper): every page that reports it names it"
    if not isinstance(obj.dataset, str) or not obj.dataset:
        return f"{name}: dataset must name a registered dataset, got {squash(repr(obj.dataset), 60)}"
    if obj.prior not in PRIORS:
        return f"{name}: prior must be one of {', '.join(PRIORS)}, got {squash(repr(obj.prior), 60)}"
    if type(obj.latent_dim) is not int or obj.latent_dim < 1:
        return f"{name}: latent_dim must be a positive integer, got {squash(repr(obj.latent_dim), 60)}"
    if obj.family is not None and not isinstance(obj.family, str):
        return f"{name}: family must be a family's name or None, got {squash(repr(obj.family), 60)}"
    if not isinstance(obj.arch, str):
        return f"{name}: arch must be a string, got {squash(repr(obj.arch), 60)}"
    nets = obj.networks
    if not isinstance(nets, dict) or "G" not in nets or not all(isinstance(k, str) and isinstance(v, str) for k, v in nets.items()):
        return f"{name}: networks must be a dict of strings with a \"G\", got {squash(repr(nets), 60)}"
    if obj.family is not None and "D" not in nets:
        return f"{name}: names family {obj.family} but declares no D for its losses to read"
    if obj.family is None and "D" in nets:
        return f"{name}: declares a D but no family whose losses read it"
    return None


def _params_problem(name: str, params: object) -> str | None:
    """Why a method's `params` declaration is unusable (not Params, repeated names, a bad default grid), or None."""
    if not isinstance(params, tuple) or not all(isinstance(p, Param) for p in params):
        return f"{name}: params must be a tuple of lvrbench.api.Param, got {squash(repr(params), 60)}"
    names = [p.name for p in params]
    if not all(isinstance(n, str) and NAME.fullmatch(n) for n in names):
        return f"{name}: param names must be plugin-style names (lower-case letters, digits, '.', '_', '-'), got {names!r}"
    if len(set(names)) != len(names) or "lr" in names:
        return f"{name}: params must have distinct names other than 'lr', got {', '.join(names)}"
    for p in params:
        if not isinstance(p.grid, tuple) or not p.grid:
            return f"{name}: param {p.name} needs a non-empty tuple as its grid"
        try:
            for value in p.grid:
                p.check(f"{name}: default grid", value)
        except UsageError as exc:
            return str(exc)
        except TypeError as exc:  # e.g. a minimum that is not a number
            return f"{name}: param {p.name} cannot check its grid ({one_line(exc, 80)})"
    return None


def _unknown_hook(name: str) -> str:
    """The line for a hook no kind has, with the one that was meant where it is close (`lvrbench_sampler`)."""
    close = difflib.get_close_matches(name, list(HOOKS.values()), n=1, cutoff=0.8)
    return f"implements unknown hook {name!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                  f" (the hooks: {', '.join(HOOKS.values())})")


def strict_from_environment() -> bool:
    """Whether LVRBENCH_STRICT_PLUGINS asks for strict loading; a UsageError for a value it cannot mean."""
    value = os.environ.get(STRICT_VARIABLE, "")
    if value.lower() in STRICT_ON:
        return True
    if value.lower() in STRICT_OFF:
        return False
    raise UsageError(f"{STRICT_VARIABLE} must be one of {', '.join(STRICT_ON)} (strict) or "
                     f"{', '.join(STRICT_OFF[1:])}, empty (lenient), got {value!r}")


def load_registry(strict: bool | None = None, eps: Iterable[EntryPoint] | None = None) -> Registry:
    """Load every entry point of the `lvrbench` group; never runs at import time.

    `strict` None reads LVRBENCH_STRICT_PLUGINS. Plugin code runs under `guarded` (everything but
    KeyboardInterrupt is caught): a plugin that calls sys.exit() is reported, not obeyed.
    """
    if strict is None:
        strict = strict_from_environment()
    if eps is None:
        eps = entry_points(group=GROUP)

    def order(ep: EntryPoint):
        dist, _ = _distribution(ep)
        return (dist != BUILTIN_DISTRIBUTION, dist, ep.name)

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    entries: list[Entry] = []
    errors: list[LoadError] = []
    taken: dict[tuple[str, str], Entry] = {}

    def fail(ep: EntryPoint, dist: str, version: str, message: str) -> None:
        error = LoadError(ep.name, dist, version, message)
        if strict:
            raise PluginError(error.line() + f" ({STRICT_VARIABLE}=1)")
        errors.append(error)

    for ep in sorted(eps, key=order):
        dist, version = _distribution(ep)
        loaded = guarded(ep.load)  # a broken plugin must not take the others down
        if not loaded.ok:
            fail(ep, dist, version, f"cannot load {ep.value!r}: {one_line(loaded.error, 200)}")
            continue
        plugin = loaded.value
        registered = guarded(pm.register, plugin, name=f"{dist}:{ep.name}")  # reads the plugin's attributes
        if not registered.ok:
            fail(ep, dist, version, one_line(registered.error, 200))
            continue
        callers = pm.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if not c.has_spec())
        if unknown or not callers:
            pm.unregister(plugin)
            fail(ep, dist, version, _unknown_hook(unknown[0]) if unknown else "implements no lvrbench hook")
            continue
        for kind in KINDS:
            hook = HOOKS[kind]
            for impl in getattr(pm.hook, hook).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                returned = guarded(impl.function)
                if not returned.ok:
                    fail(ep, dist, version, f"{hook} raised {one_line(returned.error, 200)}")
                    continue
                if not isinstance(returned.value, (list, tuple)):
                    fail(ep, dist, version, f"{hook} must return a list, not {type(returned.value).__name__}")
                    continue
                for obj in returned.value:
                    checked = guarded(_check_object, kind, obj)
                    if not checked.ok:
                        fail(ep, dist, version, f"{hook} returned an object that cannot be inspected: "
                                                f"{one_line(checked.error, 200)}")
                        continue
                    name, problem = checked.value
                    space = ("methods" if kind in METHOD_KINDS else "generators" if kind in GENERATOR_KINDS else kind, name)
                    holder = taken.get(space) if problem is None else None
                    if holder is not None:
                        problem = (f"{SINGULAR[kind]} name {name!r} is already taken by "
                                   f"{holder.distribution} {holder.version} (entry point {holder.entry_point!r})")
                    if problem is not None:
                        fail(ep, dist, version, problem)
                        continue
                    taken[space] = Entry(kind, name, obj, dist, version, ep.name)
                    entries.append(taken[space])
    return Registry(entries, errors, strict)
