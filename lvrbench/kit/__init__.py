"""`lvrbench.kit`: the task kit, public for task authors beside `lvrbench.api`.

What the built-in tasks share, so that a third-party task can plan, compute and render the same way without importing
another package's plugins: one grid expander (`Axis`, `Skip`, `expand`, `jobs`, `cell_config`), what tasks plan over
(`planning`: datasets, generators, seeds), the recovery- and family-task bases, scoring (FID, precision/recall, mode
coverage) and the `Scorer` shared by every task that scores samples, the papers' headlines as computed verdicts
(`headlines`), the per-profile protocols (`protocols`: a third-party task that asks for the same generator spec reuses
the same trained generator), figures, dataset readers, and the text a page prints.

Kit code is part of the tasks that use it: a change here that changes a number bumps those tasks' revisions.
Names load on first use (PEP 562), so `import lvrbench.kit` imports no torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module that defines it (kit modules by their short name, lower layers by their full one).
_WHERE: dict[str, str] = {
    **dict.fromkeys(("Axis", "Skip", "expand", "product", "cell_config", "jobs"), "grid"),
    **dict.fromkeys(("Generator", "generator_axes", "generators", "planned_datasets", "planned_seeds", "default_prior",
                     "dataset_prior", "family_refusal", "generator_prior", "has_realness", "generator_config",
                     "PAPER_PRIOR"), "planning"),
    **dict.fromkeys(("RecoveryTask", "PAPER_LRS", "SEEDS_TEXT", "CONFIG_FIELDS", "item_key", "setting_key",
                     "per_item_problem", "BestCells", "candidate", "N_SPLITS", "grid_section", "study_page"), "recovery"),
    **dict.fromkeys(("FamilyTask", "GAN_FIELDS", "GAN_PROTOCOL", "gan_fields", "dataset_protocol", "dataset_details", "training_table", "config_text",
                     "history_record",
                     "history_problem", "curve_drawer"), "family"),
    **dict.fromkeys(("Scorer", "Scored", "fid", "fid_bootstrap", "fid_difference_bootstrap", "knn_radii", "in_manifold",
                     "precision_recall", "precision_recall_outcomes", "mode_labels", "mode_coverage",
                     "paired_modes_difference", "fid_resampled", "covered_modes", "share_difference", "ALT_SUFFIX",
                     "evaluator_settings", "evaluator_problems", "ratio_quality", "ratio_problems", "HELDOUT_FIELDS"),
                    "scoring"),
    **dict.fromkeys(("check_generator", "describe_generator", "generator_check_problems"), "generator_check"),
    **dict.fromkeys(("GAN_TRAINING", "FAMILY_TRAINING", "CLASSIFIER_TRAINING", "EVALUATORS", "SEEDS", "gan_config"),
                    "protocols"),
    **dict.fromkeys(("encode_images", "encode_points", "payload_problem", "png_problem", "image_grid", "scatter",
                     "samples_drawer", "heatmap", "line_plot", "quality_cost_plot", "reliability_plot"), "figures"),
    **dict.fromkeys(("IdxImageDataset", "read_idx", "data_roots", "download_with_torchvision"), "readers"),
    **dict.fromkeys(("summarize", "count_text", "evaluator_lines", "has_second_evaluator", "failed_why", "failed_lines",
                     "Column", "units_of", "ranking_table", "MIXTURE_COLUMNS", "FID_ON_POINTS", "SAME_GENERATORS", "unit_label",
                     "trained_text", "TRAINED_NOTE", "left_out_lines", "unit_means",
                     "mean_over_seeds", "group", "seedless",
                     "without_seed", "SPEC_FIELDS", "is_pretrained", "generator_label", "pretrained_lines"), "pages"),
    **dict.fromkeys(("fmt_number", "fmt_estimate", "number_text", "value_text", "values_text", "config_values",
                     "grid_text", "protocol_items", "hparams_text", "table", "inert", "link", "Markdown"),
                    "lvrbench.base.text"),
    **dict.fromkeys(("gan_spec", "pretrained_spec", "evaluator_spec", "family_of"), "lvrbench.engine.specs"),
    **dict.fromkeys(("recover", "frozen", "validate_grid"), "lvrbench.engine.recovery"),
    **dict.fromkeys(("train_gan", "TrainSettings", "resolve_training"), "lvrbench.engine.training"),
    **dict.fromkeys(("run_sampler", "density_ratio", "DensityRatio", "EXACT", "CALIBRATED"), "lvrbench.engine.sampling"),
    **dict.fromkeys(("Evaluator",), "lvrbench.engine.evaluator"),
    **dict.fromkeys(("ArtifactCache",), "lvrbench.engine.artifacts"),
}
#: Modules of the kit a task imports whole (their names are generic: `headlines.between`, `mixtures.score`).
_MODULES = ("headlines", "mixtures", "protocols", "figures", "inference", "verdicts")

__all__ = sorted([*_WHERE, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif name in _WHERE:
        where = _WHERE[name]
        value = getattr(importlib.import_module(where if "." in where else f"{__name__}.{where}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and IDEs read; at run time names load on first use
    from ..base.text import (Markdown, config_values, fmt_estimate, fmt_number, grid_text, hparams_text,  # noqa: F401
                             inert, link, number_text, protocol_items, table, value_text, values_text)
    from ..engine.artifacts import ArtifactCache  # noqa: F401
    from ..engine.evaluator import Evaluator  # noqa: F401
    from ..engine.recovery import frozen, recover, validate_grid  # noqa: F401
    from ..engine.sampling import CALIBRATED, EXACT, DensityRatio, density_ratio, run_sampler  # noqa: F401
    from ..engine.specs import evaluator_spec, family_of, gan_spec, pretrained_spec  # noqa: F401
    from ..engine.training import TrainSettings, resolve_training, train_gan  # noqa: F401
    from . import figures, headlines, inference, mixtures, protocols, verdicts  # noqa: F401
    from .family import (GAN_FIELDS, GAN_PROTOCOL, FamilyTask, config_text, curve_drawer, dataset_details,  # noqa: F401
                         dataset_protocol, gan_fields, history_problem, history_record, training_table)
    from .figures import (encode_images, encode_points, heatmap, image_grid, line_plot, payload_problem,  # noqa: F401
                          png_problem, quality_cost_plot, reliability_plot, samples_drawer, scatter)
    from .grid import Axis, Skip, cell_config, expand, jobs, product  # noqa: F401
    from .pages import (FID_ON_POINTS, MIXTURE_COLUMNS, SAME_GENERATORS, SPEC_FIELDS, Column, count_text, evaluator_lines,  # noqa: F401
                        failed_lines, failed_why, generator_label, group, has_second_evaluator, is_pretrained,
                        left_out_lines, mean_over_seeds, pretrained_lines, ranking_table, seedless, summarize,
                        TRAINED_NOTE, trained_text, unit_label, unit_means, units_of, without_seed)
    from .planning import (PAPER_PRIOR, Generator, dataset_prior, default_prior, family_refusal,  # noqa: F401
                           generator_axes, generator_config, generator_prior, generators, has_realness,
                           planned_datasets, planned_seeds)
    from .generator_check import check_generator, describe_generator, generator_check_problems  # noqa: F401
    from .protocols import CLASSIFIER_TRAINING, EVALUATORS, FAMILY_TRAINING, GAN_TRAINING, SEEDS, gan_config  # noqa: F401
    from .readers import IdxImageDataset, data_roots, download_with_torchvision, read_idx  # noqa: F401
    from .recovery import (CONFIG_FIELDS, N_SPLITS, PAPER_LRS, SEEDS_TEXT, BestCells, RecoveryTask, candidate,  # noqa: F401
                           grid_section, item_key, per_item_problem, setting_key, study_page)
    from .scoring import (ALT_SUFFIX, HELDOUT_FIELDS, Scored, Scorer, covered_modes, evaluator_problems,  # noqa: F401
                          evaluator_settings, fid, fid_bootstrap, fid_difference_bootstrap, fid_resampled, in_manifold,
                          knn_radii, mode_coverage, mode_labels, paired_modes_difference, precision_recall,
                          precision_recall_outcomes, ratio_problems, ratio_quality, share_difference)
