"""Every hook a plugin can implement. Each returns the plugin objects of one kind (`lvrbench.kinds.TABLE`).

A plugin package declares an entry point in the `lvrbench` group pointing at a module (or
object) with functions decorated by `lvrbench.hookimpl`, named as below:

    [project.entry-points.lvrbench]
    my-regularizers = "my_package.plugin"

    # my_package/plugin.py
    from lvrbench import hookimpl
    @hookimpl
    def lvrbench_regularizers():
        return [MyRegularizer()]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from .kinds import HOOKS  # noqa: F401  (hook name per kind, derived from `lvrbench.kinds.TABLE`)

if TYPE_CHECKING:
    from .kinds import Dataset, Family, Pretrained, Regularizer, Resampler, Sampler, Task

PROJECT = "lvrbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lvrbench_regularizers() -> list[Regularizer]:
    """Latent regulation losses (`lvrbench.kinds.Regularizer`) this plugin provides."""


@hookspec
def lvrbench_resamplers() -> list[Resampler]:
    """Post-step latent resampling rules (`lvrbench.kinds.Resampler`) this plugin provides."""


@hookspec
def lvrbench_families() -> list[Family]:
    """GAN formulations (`lvrbench.kinds.Family`) trained by the shared training loop."""


@hookspec
def lvrbench_samplers() -> list[Sampler]:
    """Post-hoc samplers (`lvrbench.kinds.Sampler`) that draw from a trained generator."""


@hookspec
def lvrbench_tasks() -> list[Task]:
    """Benchmark protocols (`lvrbench.kinds.Task`): plan cells, compute them, table the results."""


@hookspec
def lvrbench_datasets() -> list[Dataset]:
    """Datasets (`lvrbench.kinds.Dataset`) the tasks can run on."""


@hookspec
def lvrbench_generators() -> list[Pretrained]:
    """Pretrained generators (`lvrbench.kinds.Pretrained`): networks and weights benchmarked as they are, never trained."""

