"""The plugin registry with real plugin distributions: every failure is one line, everything else loads.

Each test installs a third-party distribution with `plugin_dist` (a .dist-info with entry_points.txt
plus module files, found by importlib.metadata next to the built-in `lvrbench` distribution) and
loads the registry the way the CLI does.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import lvrbench
from lvrbench.base.errors import PluginError, UsageError
from lvrbench.run.registry import LoadError, load_registry

BUILTIN = f"lvrbench {lvrbench.__version__}"

#: Paper 000 Table 1 (and paper 001 for the cutoffs): the prior each built-in method is defined for.
EXPECTED_REQUIRES = {
    "regularizers": {
        "none": "any", "z-score-square": "normal", "z-score-absolute": "normal", "bhattacharyya": "normal",
        "wasserstein": "iid", "energy": "iid", "lukaszyk-karmowski": "iid", "trick-discriminator": "any",
    },
    "resamplers": {
        "boundary": "uniform", "hard-cutoff": "normal", "logistic-cutoff": "normal", "truncated-normal-cutoff": "normal",
    },
}
EXPECTED_NAMES = {
    "regularizers": set(EXPECTED_REQUIRES["regularizers"]),
    "resamplers": set(EXPECTED_REQUIRES["resamplers"]),
    "families": {"vanilla", "lsgan", "wgan", "wgan-gp", "hinge", "san", "gm-gan", "bigan", "logan-b"},
    "samplers": {"direct", "drs", "dg-flow", "ddls", "mh-gan"},
    "tasks": {"generation", "mode-coverage", "reconstruction", "recovery-real", "recovery-synthetic", "sampling"},
    "datasets": {"fashion-mnist", "mnist", "ring8", "grid25"},
}

HEADER = """\
from lvrbench.api import hookimpl
from lvrbench.api import Dataset, Family, Regularizer, Resampler, Task
"""

GOOD_REGULARIZER = HEADER + '''
class Reg(Regularizer):
    """{summary}

    More details that are not part of the summary.
    """

    name = "{name}"
    requires = "{requires}"

    def loss(self, z, ctx):
        return z.new_zeros(z.shape[:2])


@hookimpl
def lvrbench_regularizers():
    return [Reg()]
'''


def uid() -> str:
    return uuid.uuid4().hex[:10]


def regularizer_module(name: str, requires: str = "any", summary: str = "A test regularizer.") -> str:
    return GOOD_REGULARIZER.format(name=name, requires=requires, summary=summary)


def errors_of(registry, dist: str) -> list[LoadError]:
    return [e for e in registry.errors if e.distribution == dist]


def the_error(registry, dist: str, version: str = "1.0") -> LoadError:
    """The one LoadError of `dist`; no other distribution (the built-ins included) failed."""
    errors = errors_of(registry, dist)
    assert len(errors) == 1, registry.errors
    assert (errors[0].distribution, errors[0].version) == (dist, version)
    assert [e for e in registry.errors if e.distribution == "lvrbench"] == []
    return errors[0]


def assert_line(error: LoadError, entry_point: str, dist: str, message: str | re.Pattern, version: str = "1.0") -> str:
    """error.line() is one line naming the entry point and the distribution, with `message` (exact or a pattern)."""
    line = error.line()
    assert "\n" not in line and "\r" not in line, line
    prefix = f"plugin entry point {entry_point!r} ({dist} {version}): "
    assert line.startswith(prefix), line
    assert error.entry_point == entry_point
    if isinstance(message, re.Pattern):
        assert message.fullmatch(error.message), error.message
    else:
        assert error.message == message
    assert line == prefix + error.message
    return line


def assert_builtins_intact(registry) -> None:
    """Every built-in plugin is registered, from the built-in distribution."""
    for kind, names in EXPECTED_NAMES.items():
        registered = {e.name: e for e in registry.entries(kind)}
        assert names <= set(registered), (kind, sorted(registered))
        for name in names:
            assert registered[name].distribution == "lvrbench"
            assert registry.provenance(registered[name].obj) == BUILTIN
    for kind, name in (("regularizers", "bhattacharyya"), ("families", "lsgan"), ("tasks", "recovery-real"),
                       ("datasets", "fashion-mnist")):
        assert registry.get(kind, name).name == name


# -- a plugin that cannot be loaded ----------------------------------------------------------------

@pytest.mark.parametrize("source, message", [
    ("raise ImportError('needs the frobnicate package')\n", "ImportError: needs the frobnicate package"),
    ("import lvrbench_no_such_dependency_xyz\n", "ModuleNotFoundError: No module named 'lvrbench_no_such_dependency_xyz'"),
    ("raise RuntimeError('broken\\n   on two lines')\n", "RuntimeError: broken on two lines"),
], ids=["ImportError", "ModuleNotFoundError", "multi-line-error"])
def test_a_module_that_fails_to_import_is_one_line(plugin_dist, source, message):
    mod, dist = f"lvrt_import_{uid()}", f"acme-import-{uid()}"
    plugin_dist(dist, {mod: source}, {"broken": mod})
    registry = load_registry(strict=False)
    error = the_error(registry, dist)
    assert_line(error, "broken", dist, f"cannot load {mod!r}: {message}")
    assert_builtins_intact(registry)


def test_a_module_with_a_syntax_error_is_one_line(plugin_dist):
    mod, dist = f"lvrt_syntax_{uid()}", f"acme-syntax-{uid()}"
    plugin_dist(dist, {mod: "def broken(:\n    pass\n"}, {"syntax": mod})
    registry = load_registry(strict=False)
    error = the_error(registry, dist)
    assert_line(error, "syntax", dist, re.compile(rf"cannot load '{mod}': SyntaxError: .*\({mod}\.py, line 1\)"))
    assert_builtins_intact(registry)


def test_an_entry_point_to_a_missing_module_or_attribute_is_one_line(plugin_dist):
    mod, dist = f"lvrt_attr_{uid()}", f"acme-attr-{uid()}"
    missing = f"lvrt_missing_{uid()}"
    plugin_dist(dist, {mod: regularizer_module(f"attr-{uid()}")},
                {"no-attr": f"{mod}:not_there", "no-module": missing})
    registry = load_registry(strict=False)
    errors = {e.entry_point: e for e in errors_of(registry, dist)}
    assert sorted(errors) == ["no-attr", "no-module"]
    assert_line(errors["no-attr"], "no-attr", dist,
                f"cannot load '{mod}:not_there': AttributeError: module '{mod}' has no attribute 'not_there'")
    assert_line(errors["no-module"], "no-module", dist, f"cannot load {missing!r}: ModuleNotFoundError: No module named {missing!r}")
    assert_builtins_intact(registry)


# -- plugin code that ends the process -------------------------------------------------------------

EXITING = {
    "exit-at-import": ("import sys\nsys.exit(3)\n", "{mod}", "cannot load '{mod}': SystemExit: 3"),
    "bare-exit-at-import": ("raise SystemExit\n", "{mod}", "cannot load '{mod}': SystemExit"),
    "base-exception-at-import": ("class Halt(BaseException):\n    pass\n\nraise Halt('stop here')\n", "{mod}",
                                 "cannot load '{mod}': Halt: stop here"),
    "exit-while-registered": (HEADER + '''
import sys

class _Plugin:
    def __dir__(self):
        sys.exit(5)

plugin = _Plugin()
''', "{mod}:plugin", "SystemExit: 5"),
    "exit-in-a-hook": (HEADER + '''
import sys

@hookimpl
def lvrbench_datasets():
    sys.exit(4)
''', "{mod}", "lvrbench_datasets raised SystemExit: 4"),
}


@pytest.mark.parametrize("which", list(EXITING))
def test_plugin_code_that_exits_is_one_line_and_everything_else_loads(plugin_dist, which):
    source, target, message = EXITING[which]
    mod, dist = f"lvrt_exit_{uid()}", f"acme-exit-{uid()}"
    good_name, good_mod, good_dist = f"fine-{uid()}", f"lvrt_fine_{uid()}", f"zzz-fine-{uid()}"
    plugin_dist(dist, {mod: source}, {"exits": target.format(mod=mod)})
    plugin_dist(good_dist, {good_mod: regularizer_module(good_name)}, {"fine": good_mod})
    registry = load_registry(strict=False)
    line = assert_line(the_error(registry, dist), "exits", dist, message.format(mod=mod))
    assert registry.entry("regularizers", good_name).distribution == good_dist
    assert_builtins_intact(registry)
    with pytest.raises(PluginError) as info:
        load_registry(strict=True)
    assert str(info.value) == f"{line} (LVRBENCH_STRICT_PLUGINS=1)"


def test_list_survives_a_plugin_that_calls_sys_exit(plugin_dist, cli, tmp_path):
    mod, dist = f"lvrt_exit_cli_{uid()}", f"acme-exit-cli-{uid()}"
    site = plugin_dist(dist, {mod: "import sys\nsys.exit(3)\n"}, {"exits": mod}, version="3.1")
    r = cli("list", "--json", cwd=tmp_path, env={"LVRBENCH_STRICT_PLUGINS": "0"}, pythonpath=site)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    message = f"cannot load '{mod}': SystemExit: 3"
    assert r.stderr.splitlines() == [f"lvrbench: warning: skipped plugin entry point 'exits' ({dist} 3.1): {message}"]
    doc = json.loads(r.stdout)
    assert doc["errors"] == [{"entry_point": "exits", "plugin": dist, "version": "3.1", "message": message}]
    for kind, names in EXPECTED_NAMES.items():
        assert names <= {row["name"] for row in doc[kind]}, kind


# -- a hook that misbehaves ------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ('''
class Res(Resampler):
    """A resampler handed out as a regularizer."""
    name = "{name}"

@hookimpl
def lvrbench_regularizers():
    return [Res()]
''', "returned <resampler '{name}'> from lvrbench_regularizers, which is not a lvrbench.api.Regularizer"),
    ('''
class Thing:
    def __repr__(self):
        return "<a plain Thing>"

@hookimpl
def lvrbench_datasets():
    return [Thing()]
''', "returned <a plain Thing> from lvrbench_datasets, which is not a lvrbench.api.Dataset"),
    ('''
@hookimpl
def lvrbench_tasks():
    return ["generation"]
''', "returned 'generation' from lvrbench_tasks, which is not a lvrbench.api.Task"),
], ids=["resampler-as-regularizer", "plain-object", "a-string"])
def test_a_hook_returning_the_wrong_kind_is_one_line(plugin_dist, body, message):
    name, mod, dist = f"wrong-{uid()}", f"lvrt_kind_{uid()}", f"acme-kind-{uid()}"
    plugin_dist(dist, {mod: HEADER + body.format(name=name)}, {"wrong": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "wrong", dist, message.format(name=name))
    assert name not in registry.names("regularizers") + registry.names("resamplers")
    assert_builtins_intact(registry)


def test_a_wrong_object_with_a_multi_line_repr_is_still_one_line(plugin_dist):
    mod, dist = f"lvrt_module_{uid()}", f"acme-module-{uid()}"
    plugin_dist(dist, {mod: HEADER + '''
import torch

@hookimpl
def lvrbench_families():
    # A mistake a plugin author can make: returning the network instead of the Family.
    return [torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())]
'''}, {"nets": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "nets", dist,
                re.compile(r"returned Sequential\(.*\) from lvrbench_families, which is not a lvrbench\.api\.Family"))


def test_a_hook_that_raises_is_one_line_and_the_plugins_other_hooks_still_load(plugin_dist):
    name, mod, dist = f"ok-{uid()}", f"lvrt_raises_{uid()}", f"acme-raises-{uid()}"
    plugin_dist(dist, {mod: regularizer_module(name) + '''

@hookimpl
def lvrbench_datasets():
    raise RuntimeError("dataset server\\n  unreachable")
'''}, {"raises": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "raises", dist, "lvrbench_datasets raised RuntimeError: dataset server unreachable")
    assert registry.entry("regularizers", name).distribution == dist
    assert_builtins_intact(registry)


GOOD_BESIDE = '''
class Good(Regularizer):
    """A good regularizer beside a broken object."""
    name = "{good}"

    def loss(self, z, ctx):
        return z.new_zeros(z.shape[:2])
'''


@pytest.mark.parametrize("body, message", [
    ('''
class Thing:
    def __repr__(self):
        raise RuntimeError("no repr for you")

@hookimpl
def lvrbench_datasets():
    return [Thing()]

@hookimpl
def lvrbench_regularizers():
    return [Good()]
''', "lvrbench_datasets returned an object that cannot be inspected: RuntimeError: no repr for you"),
    ('''
class Nameless(Regularizer):
    """A regularizer whose name is computed, and fails."""

    @property
    def name(self):
        raise ValueError("name not configured")

@hookimpl
def lvrbench_regularizers():
    return [Nameless(), Good()]
''', "lvrbench_regularizers returned an object that cannot be inspected: ValueError: name not configured"),
    ('''
import sys

class Exiting(Regularizer):
    """A regularizer whose name ends the process."""

    @property
    def name(self):
        sys.exit(6)

@hookimpl
def lvrbench_regularizers():
    return [Exiting(), Good()]
''', "lvrbench_regularizers returned an object that cannot be inspected: SystemExit: 6"),
    ('''
class Demanding(Regularizer):
    """A regularizer whose requires fails."""
    name = "demanding-{good}"

    @property
    def requires(self):
        raise KeyError("prior")

@hookimpl
def lvrbench_regularizers():
    return [Demanding(), Good()]
''', "lvrbench_regularizers returned an object that cannot be inspected: KeyError: 'prior'"),
    ('''
class Unsummarised(Regularizer):
    """Replaced by a property that fails."""
    name = "demanding-{good}"

    @property
    def summary(self):
        raise RuntimeError("no summary")

@hookimpl
def lvrbench_regularizers():
    return [Unsummarised(), Good()]
''', "lvrbench_regularizers returned an object that cannot be inspected: RuntimeError: no summary"),
], ids=["repr-raises", "name-raises", "name-exits", "requires-raises", "summary-raises"])
def test_an_object_that_raises_when_inspected_is_one_line(plugin_dist, body, message):
    good, mod, dist = f"good-{uid()}", f"lvrt_inspect_{uid()}", f"acme-inspect-{uid()}"
    plugin_dist(dist, {mod: HEADER + GOOD_BESIDE.format(good=good) + body.format(good=good)}, {"inspect": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "inspect", dist, message)
    assert registry.entry("regularizers", good).distribution == dist
    assert f"demanding-{good}" not in registry.names("regularizers")
    assert_builtins_intact(registry)


# -- names -----------------------------------------------------------------------------------------

KIND_SOURCES = {
    "regularizer": ("regularizers", "bhattacharyya", "Regularizer", "lvrbench_regularizers", "regularizers"),
    "family": ("families", "lsgan", "Family", "lvrbench_families", "families"),
    "dataset": ("datasets", "mnist", "Dataset", "lvrbench_datasets", "datasets"),
    "task": ("tasks", "generation", "Task", "lvrbench_tasks", "generation"),
}


@pytest.mark.parametrize("which", [
    "regularizer",
    "family",
    "dataset",
    "task",
])
def test_a_taken_name_keeps_the_builtin_and_names_the_holder(plugin_dist, which):
    kind, taken, cls, hook, holder_ep = KIND_SOURCES[which]
    # "aaa-..." sorts before "lvrbench": the built-in must win because it is built in, not by the alphabet.
    mod, dist = f"lvrt_taken_{uid()}", f"aaa-taken-{uid()}"
    plugin_dist(dist, {mod: HEADER + f'''
class Impostor({cls}):
    """An impostor."""
    name = "{taken}"

@hookimpl
def {hook}():
    return [Impostor()]
'''}, {"impostor": mod}, version="9.9")
    registry = load_registry(strict=False)
    error = the_error(registry, dist, version="9.9")
    assert_line(error, "impostor", dist, f"{which} name {taken!r} is already taken by {BUILTIN} (entry point {holder_ep!r})",
                version="9.9")
    entry = registry.entry(kind, taken)
    assert entry.distribution == "lvrbench" and type(entry.obj).__module__.startswith("lvrbench_plugins.")
    assert_builtins_intact(registry)


def test_methods_share_one_namespace(plugin_dist):
    """A resampler may not take a built-in regularizer's name: `--method energy` must mean one thing."""
    mod, dist = f"lvrt_shared_{uid()}", f"acme-shared-{uid()}"
    plugin_dist(dist, {mod: HEADER + '''
class Energy(Resampler):
    """A resampler called like a regularizer."""
    name = "energy"

@hookimpl
def lvrbench_resamplers():
    return [Energy()]
'''}, {"energy-resampler": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "energy-resampler", dist,
                f"resampler name 'energy' is already taken by {BUILTIN} (entry point 'regularizers')")
    assert "energy" not in registry.names("resamplers")
    assert registry.method("energy") is registry.get("regularizers", "energy")
    assert registry.entry("regularizers", "energy").distribution == "lvrbench"
    assert_builtins_intact(registry)


def test_between_third_parties_the_first_distribution_keeps_the_name(plugin_dist):
    name = f"contested-{uid()}"
    first, second = f"aaa-first-{uid()}", f"zzz-second-{uid()}"
    m1, m2 = f"lvrt_first_{uid()}", f"lvrt_second_{uid()}"
    plugin_dist(first, {m1: regularizer_module(name)}, {"ep-one": m1})
    plugin_dist(second, {m2: regularizer_module(name)}, {"ep-two": m2}, version="2.0")
    registry = load_registry(strict=False)
    assert errors_of(registry, first) == []
    assert_line(the_error(registry, second, "2.0"), "ep-two", second,
                f"regularizer name {name!r} is already taken by {first} 1.0 (entry point 'ep-one')", version="2.0")
    assert registry.provenance(registry.method(name)) == f"{first} 1.0"


@pytest.mark.parametrize("bad_name", ["Bhattacharyya-Plus", "my reg", "", "-leading-dash", "tab\tname"])
def test_an_invalid_name_is_refused(plugin_dist, bad_name):
    mod, dist = f"lvrt_name_{uid()}", f"acme-name-{uid()}"
    plugin_dist(dist, {mod: regularizer_module(bad_name.replace("\t", "\\t"))}, {"bad-name": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "bad-name", dist,
                f"returned a Regularizer with an invalid name {bad_name!r} (lower-case letters, digits, '.', '_', '-')")
    assert bad_name not in registry.names("regularizers")
    assert_builtins_intact(registry)


def test_a_name_with_a_trailing_newline_is_refused(plugin_dist):
    mod, dist = f"lvrt_newline_{uid()}", f"acme-newline-{uid()}"
    plugin_dist(dist, {mod: regularizer_module("sneaky\\n")}, {"newline": mod})
    registry = load_registry(strict=False)
    assert "sneaky\n" not in registry.names("regularizers")
    assert_line(the_error(registry, dist), "newline", dist,
                "returned a Regularizer with an invalid name 'sneaky\\n' (lower-case letters, digits, '.', '_', '-')")


@pytest.mark.parametrize("requires", ["gaussian", "Normal", ""])
def test_a_method_with_an_invalid_requires_is_refused(plugin_dist, requires):
    name, mod, dist = f"req-{uid()}", f"lvrt_req_{uid()}", f"acme-req-{uid()}"
    plugin_dist(dist, {mod: regularizer_module(name, requires=requires)}, {"req": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "req", dist, f"{name}: requires={requires!r} is not one of normal, uniform, iid, any")
    assert name not in registry.names("regularizers")
    assert_builtins_intact(registry)


@pytest.mark.parametrize("params, message", [
    ('("weight",)', "params must be a tuple of lvrbench.api.Param, got ('weight',)"),
    ('(Param("c", (1.0,)), Param("c", (2.0,)))', "params must have distinct names other than 'lr', got c, c"),
    ('(Param("lr", (1.0,)),)', "params must have distinct names other than 'lr', got lr"),
    ('(Param("c", ()),)', "param c needs a non-empty tuple as its grid"),
    ('(Param("c", (1.0, -2.0), minimum=0.0),)', "default grid: c must be >= 0, got -2"),
    ('(Param(3, (1.0,)),)', "param names must be plugin-style names (lower-case letters, digits, '.', '_', '-'), got [3]"),
    ('(Param("c", (1.0,), minimum="0"),)', "param c cannot check its grid (TypeError: '<' not supported between instances of 'float' and 'str')"),
], ids=["strings", "repeated", "lr", "empty-grid", "grid-out-of-range", "bad-name", "bad-minimum"])
def test_a_method_with_broken_params_is_refused_at_load(plugin_dist, params, message):
    name, mod, dist = f"par-{uid()}", f"lvrt_par_{uid()}", f"acme-par-{uid()}"
    source = regularizer_module(name).replace('    requires = "any"', f"    requires = \"any\"\n    params = {params}")
    plugin_dist(dist, {mod: source.replace("from lvrbench.api import", "from lvrbench.api import Param,")}, {"par": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "par", dist, f"{name}: {message}")
    assert name not in registry.names("regularizers")
    assert_builtins_intact(registry)


FAILING_TASK = HEADER + '''
class Broken(Task):
    """A task whose {hook} raises."""

    name = "{name}"
    profiles = ("quick",)

    def {hook}(self, *args):
        raise {exc}


@hookimpl
def lvrbench_tasks():
    return [Broken()]
'''


@pytest.mark.parametrize("exc, reported", [("KeyError('oops')", "KeyError: 'oops'"), ("SystemExit(3)", "SystemExit: 3")],
                         ids=["KeyError", "SystemExit"])
@pytest.mark.parametrize("hook", ["plan", "parameters", "method_names"])
def test_a_task_hook_that_raises_is_one_line_naming_the_plugin(plugin_dist, hook, exc, reported):
    from lvrbench.run.harness import PlanRequest, make_plan
    from lvrbench.run.store import ResultStore
    from lvrbench.commands.runner import RunOptions, run_command

    name, mod, dist = f"broken-{uid()}", f"lvrt_task_{uid()}", f"acme-task-{uid()}"
    plugin_dist(dist, {mod: FAILING_TASK.format(name=name, hook=hook, exc=exc)}, {"task": mod})
    registry = load_registry(strict=True)
    expected = f"task {name} ({dist} 1.0) failed in {hook}: {reported}"
    with pytest.raises(PluginError) as info:
        if hook == "plan":
            make_plan([registry.get("tasks", name)], PlanRequest(registry, "quick"), ResultStore(Path("/nonexistent")))
        else:
            run_command(registry, RunOptions(tasks=(name,), dry_run=True, out="/nonexistent"))
    assert str(info.value) == expected


# -- hooks -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, message", [
    ('''
from lvrbench.api import hookimpl

@hookimpl
def lvrbench_bogus():
    return []
''', "implements unknown hook 'lvrbench_bogus' (the hooks: lvrbench_regularizers, lvrbench_resamplers, lvrbench_families, "
        "lvrbench_samplers, lvrbench_tasks, lvrbench_datasets, lvrbench_generators)"),
    ('''
from lvrbench.api import hookimpl

@hookimpl
def lvrbench_regularisers():  # British spelling: not a hook
    return []

@hookimpl
def lvrbench_datasets():
    return []
''', "implements unknown hook 'lvrbench_regularisers'; did you mean 'lvrbench_regularizers'?"),
    ('''
from lvrbench.api import hookimpl

@hookimpl
def lvrbench_sampler():  # the singular: the hooks are named for their kind, plural
    return []
''', "implements unknown hook 'lvrbench_sampler'; did you mean 'lvrbench_samplers'?"),
    ('''
"""A module with no hook at all."""
VALUE = 1
''', "implements no lvrbench hook"),
    ('''
from lvrbench.api import Regularizer

def lvrbench_regularizers():  # the @hookimpl decorator is missing
    return []
''', "implements no lvrbench hook"),
], ids=["unknown-hook", "misspelt-hook", "singular-hook", "no-hook", "undecorated"])
def test_unknown_or_missing_hooks_are_one_line(plugin_dist, source, message):
    mod, dist = f"lvrt_hook_{uid()}", f"acme-hook-{uid()}"
    plugin_dist(dist, {mod: source}, {"hooks": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "hooks", dist, message)
    assert_builtins_intact(registry)


def test_a_hook_with_arguments_the_spec_does_not_have_is_one_line(plugin_dist):
    mod, dist = f"lvrt_args_{uid()}", f"acme-args-{uid()}"
    plugin_dist(dist, {mod: '''
from lvrbench.api import hookimpl

@hookimpl
def lvrbench_regularizers(config):
    return []
'''}, {"args": mod})
    registry = load_registry(strict=False)
    assert_line(the_error(registry, dist), "args", dist,
                re.compile(r"PluginValidationError: .*lvrbench_regularizers.*'config'.*"))
    assert_builtins_intact(registry)


# -- a well-formed plugin --------------------------------------------------------------------------

def test_a_well_formed_plugin_registers_with_its_provenance(plugin_dist):
    reg_name, data_name = f"acme-reg-{uid()}", f"acme-data-{uid()}"
    mod, obj_mod, dist = f"lvrt_good_{uid()}", f"lvrt_obj_{uid()}", f"acme-good-{uid()}"
    plugin_dist(dist, {
        mod: regularizer_module(reg_name, requires="iid", summary="Acme's latent regulation loss."),
        # An entry point may also name an object whose methods are the hooks.
        obj_mod: HEADER + f'''
class Points(Dataset):
    """Acme's points."""
    name = "{data_name}"
    modality = "points"
    shape = (2,)


class _Plugin:
    @hookimpl
    def lvrbench_datasets(self):
        return [Points()]


plugin = _Plugin()
''',
    }, {"acme-regularizers": mod, "acme-datasets": f"{obj_mod}:plugin"}, version="2.3.1")
    registry = load_registry(strict=True)  # nothing to complain about
    assert errors_of(registry, dist) == []

    reg = registry.method(reg_name)
    assert type(reg).__module__ == mod and registry.get("regularizers", reg_name) is reg
    assert registry.provenance(reg) == f"{dist} 2.3.1"
    entry = registry.entry("regularizers", reg_name)
    assert (entry.kind, entry.distribution, entry.version, entry.entry_point) == ("regularizers", dist, "2.3.1", "acme-regularizers")
    data = registry.get("datasets", data_name)
    assert registry.provenance(data) == f"{dist} 2.3.1"
    assert registry.entry("datasets", data_name).entry_point == "acme-datasets"

    doc = registry.to_json()
    row = next(r for r in doc["regularizers"] if r["name"] == reg_name)
    assert row == {"name": reg_name, "plugin": dist, "version": "2.3.1", "summary": "Acme's latent regulation loss.",
                   "requires": "iid", "params": {"weight": [0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0]},
                   "hyperparameters": {"weight": {"grid": [0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0], "minimum": 0.0,
                                                  "exclusive_minimum": False, "maximum": None,
                                                  "doc": "latent regulation loss weight λ"}}}
    data_row = next(r for r in doc["datasets"] if r["name"] == data_name)
    assert (data_row["plugin"], data_row["summary"]) == (dist, "Acme's points.")
    builtin_row = next(r for r in doc["regularizers"] if r["name"] == "bhattacharyya")
    assert builtin_row["plugin"] == "lvrbench" and builtin_row["summary"]
    assert doc["errors"] == []
    assert json.loads(json.dumps(doc)) == doc
    assert_builtins_intact(registry)


def test_json_errors_give_the_distribution_and_its_version_like_plugin_rows(plugin_dist):
    name, good_mod, bad_mod, dist = f"half-{uid()}", f"lvrt_half_{uid()}", f"lvrt_half_bad_{uid()}", f"acme-half-{uid()}"
    plugin_dist(dist, {good_mod: regularizer_module(name), bad_mod: "raise ImportError('half broken')\n"},
                {"good": good_mod, "bad": bad_mod}, version="2.5")
    doc = load_registry(strict=False).to_json()
    row = next(r for r in doc["regularizers"] if r["name"] == name)
    assert (row["plugin"], row["version"]) == (dist, "2.5")
    assert doc["errors"] == [{"entry_point": "bad", "plugin": dist, "version": "2.5",
                              "message": f"cannot load {bad_mod!r}: ImportError: half broken"}]


# -- strict mode -----------------------------------------------------------------------------------

@pytest.fixture
def broken_dist(plugin_dist):
    """A distribution whose only entry point cannot be imported; returns (dist, expected line)."""
    mod, dist = f"lvrt_strict_{uid()}", f"acme-strict-{uid()}"
    plugin_dist(dist, {mod: "raise ImportError('no frobnicate here')\n"}, {"strict-ep": mod})
    line = f"plugin entry point 'strict-ep' ({dist} 1.0): cannot load {mod!r}: ImportError: no frobnicate here"
    return dist, line


def test_strict_mode_raises_the_same_line(broken_dist, monkeypatch):
    dist, line = broken_dist
    monkeypatch.delenv("LVRBENCH_STRICT_PLUGINS", raising=False)
    lenient = load_registry()
    assert [e.line() for e in lenient.errors] == [line]
    with pytest.raises(PluginError) as info:
        load_registry(strict=True)
    assert not isinstance(info.value, UsageError)  # a broken plugin is not bad input: it has its own exit code
    assert str(info.value) == f"{line} (LVRBENCH_STRICT_PLUGINS=1)"


def test_strict_mode_from_the_environment(broken_dist, monkeypatch):
    dist, line = broken_dist
    monkeypatch.setenv("LVRBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as info:
        load_registry(strict=None)
    assert str(info.value) == f"{line} (LVRBENCH_STRICT_PLUGINS=1)"
    assert "\n" not in str(info.value)
    # An explicit argument wins over the environment.
    assert [e.line() for e in load_registry(strict=False).errors] == [line]

    monkeypatch.setenv("LVRBENCH_STRICT_PLUGINS", "0")
    registry = load_registry(strict=None)
    assert [e.line() for e in registry.errors] == [line]
    assert_builtins_intact(registry)


@pytest.mark.parametrize("value", ["", "0", "false", "FALSE", "No", "off"])
def test_strict_mode_is_off_for_the_off_values(broken_dist, monkeypatch, value):
    dist, line = broken_dist
    monkeypatch.setenv("LVRBENCH_STRICT_PLUGINS", value)
    registry = load_registry(strict=None)
    assert [e.line() for e in registry.errors] == [line]
    assert_builtins_intact(registry)


@pytest.mark.parametrize("value", ["1", "true", "Yes", "ON"])
def test_strict_mode_is_on_for_the_on_values(broken_dist, monkeypatch, value):
    dist, line = broken_dist
    monkeypatch.setenv("LVRBENCH_STRICT_PLUGINS", value)
    with pytest.raises(PluginError) as info:
        load_registry(strict=None)
    assert str(info.value) == f"{line} (LVRBENCH_STRICT_PLUGINS=1)"


STRICT_USAGE = ("LVRBENCH_STRICT_PLUGINS must be one of 1, true, yes, on (strict) or 0, false, no, off, empty (lenient), "
                "got {value!r}")


@pytest.mark.parametrize("value", ["2", "maybe", " 1", "enabled\nyes"])
def test_an_invalid_strict_value_is_a_usage_error(monkeypatch, value):
    monkeypatch.setenv("LVRBENCH_STRICT_PLUGINS", value)
    with pytest.raises(UsageError) as info:
        load_registry(strict=None)
    assert not isinstance(info.value, PluginError)
    assert str(info.value) == STRICT_USAGE.format(value=value)
    assert "\n" not in str(info.value)
    assert load_registry(strict=False).errors == []  # an explicit argument does not read it


def test_an_invalid_strict_value_exits_2_through_the_cli(cli, tmp_path):
    r = cli("list", cwd=tmp_path, env={"LVRBENCH_STRICT_PLUGINS": "maybe"})
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "lvrbench: error: " + STRICT_USAGE.format(value="maybe") + "\n"


# -- unknown names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, name, suggestion, what", [
    ("regularizers", "bhattacharya", "bhattacharyya", "regularizer"),
    ("resamplers", "hard-cutof", "hard-cutoff", "resampler"),
    ("families", "lsgam", "lsgan", "family"),
    ("tasks", "recovery-rael", "recovery-real", "task"),
    ("datasets", "fashion-mnsit", "fashion-mnist", "dataset"),
])
def test_a_near_miss_suggests_the_name(registry, kind, name, suggestion, what):
    with pytest.raises(UsageError) as info:
        registry.get(kind, name)
    assert str(info.value) == f"unknown {what} {name!r}; did you mean {suggestion!r}?"


@pytest.mark.parametrize("kind, what", [("regularizers", "regularizer"), ("families", "family"), ("tasks", "task"),
                                        ("datasets", "dataset")])
def test_a_far_miss_lists_the_known_names(registry, kind, what):
    with pytest.raises(UsageError) as info:
        registry.get(kind, "xyzzy")
    known = registry.names(kind)
    assert known == sorted(known) and EXPECTED_NAMES[kind] <= set(known)
    assert str(info.value) == f"unknown {what} 'xyzzy' (known: {', '.join(known)})"


def test_method_lookup_covers_regularizers_and_resamplers(registry):
    assert registry.method("bhattacharyya") is registry.get("regularizers", "bhattacharyya")
    assert registry.method("hard-cutoff") is registry.get("resamplers", "hard-cutoff")
    with pytest.raises(UsageError) as info:
        registry.method("bhattacharya")
    assert str(info.value) == "unknown method 'bhattacharya'; did you mean 'bhattacharyya'?"
    with pytest.raises(UsageError) as info:
        registry.method("truncated-normal-cutof")
    assert str(info.value) == "unknown method 'truncated-normal-cutof'; did you mean 'truncated-normal-cutoff'?"
    with pytest.raises(UsageError) as info:
        registry.method("xyzzy")
    known = sorted(registry.names("regularizers") + registry.names("resamplers"))
    assert str(info.value) == f"unknown method 'xyzzy' (known: {', '.join(known)})"
    # A family is not a method.
    with pytest.raises(UsageError, match=r"^unknown method 'lsgan'"):
        registry.method("lsgan")


# -- the built-in registry -------------------------------------------------------------------------

def test_builtin_registry_has_exactly_the_expected_plugins(registry):
    assert registry.errors == []
    for kind, names in EXPECTED_NAMES.items():
        assert set(registry.names(kind)) == names, kind
        for entry in registry.entries(kind):
            assert entry.distribution == "lvrbench" and entry.version == lvrbench.__version__
            assert entry.obj.kind == kind and entry.obj.summary, entry.name


@pytest.mark.parametrize("kind", ["regularizers", "resamplers"])
def test_builtin_methods_declare_the_priors_of_paper_000_table_1(registry, kind):
    assert {e.name: e.obj.requires for e in registry.entries(kind)} == EXPECTED_REQUIRES[kind]


def test_builtin_method_priors_decide_support(registry):
    from lvrbench.api.priors import PRIORS

    supported = {name: {p for p, prior in PRIORS.items() if registry.method(name).supports(prior)}
                 for name in registry.names("regularizers") + registry.names("resamplers")}
    assert supported["bhattacharyya"] == {"normal"}
    assert supported["boundary"] == {"uniform"}
    assert supported["wasserstein"] == supported["none"] == supported["trick-discriminator"] == {"normal", "uniform"}


# -- no registry at import time --------------------------------------------------------------------

def test_importing_the_package_builds_no_registry_and_imports_no_torch(tmp_path):
    code = (
        "import json, sys\n"
        "import lvrbench, lvrbench.api, lvrbench.kit, lvrbench.commands.cli, lvrbench.run.registry, lvrbench.api.contracts,"
        " lvrbench.api.hookspecs, lvrbench.base.errors\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'lvrbench_plugins', 'torchvision')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
