"""Every hook a plugin can implement. Each returns the plugin objects of one kind (`lvrbench.api.TABLE`).

A plugin package declares an entry point in the `lvrbench` group pointing at a module (or
object) with functions decorated by `lvrbench.api.hookimpl`, named as below:

    [project.entry-points.lvrbench]
    my-regularizers = "my_package.plugin"

    # my_package/plugin.py
    from lvrbench.api import hookimpl
    @hookimpl
    def lvrbench_regularizers():
        return [MyRegularizer()]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .contracts import Dataset, Family, Pretrained, Regularizer, Resampler, Sampler, Task

PROJECT = "lvrbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lvrbench_regularizers() -> list[Regularizer]:
    """Latent regulation losses (`lvrbench.api.Regularizer`) this plugin provides."""


@hookspec
def lvrbench_resamplers() -> list[Resampler]:
    """Post-step latent resampling rules (`lvrbench.api.Resampler`) this plugin provides."""


@hookspec
def lvrbench_families() -> list[Family]:
    """GAN formulations (`lvrbench.api.Family`) trained by the shared training loop."""


@hookspec
def lvrbench_samplers() -> list[Sampler]:
    """Post-hoc samplers (`lvrbench.api.Sampler`) that draw from a trained generator."""


@hookspec
def lvrbench_tasks() -> list[Task]:
    """Benchmark protocols (`lvrbench.api.Task`): plan cells, compute them, table the results."""


@hookspec
def lvrbench_datasets() -> list[Dataset]:
    """Datasets (`lvrbench.api.Dataset`) the tasks can run on."""


@hookspec
def lvrbench_generators() -> list[Pretrained]:
    """Pretrained generators (`lvrbench.api.Pretrained`): networks and weights benchmarked as they are, never trained."""

