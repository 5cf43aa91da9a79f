"""The `lvrbench` command. Heavy imports (torch, the plugins) happen inside the commands, never here."""
from __future__ import annotations

import difflib
import functools
import json
import os
import sys
import traceback

import click
from click.utils import PacifyFlushWrapper

from ..base.errors import EXIT_PLUGIN, EXIT_USAGE, PluginError, UsageError, one_line, squash
from ..api.contracts import KINDS, SINGULAR
from ..api.priors import PRIORS
from ..base.identity import PROFILES
from ..base import threads


#: Errors echo what the user typed; a pasted megabyte must still be one readable line.
MESSAGE_LIMIT = 1000


class Choice(click.Choice):
    """click.Choice whose refusal of a near miss says which choice was meant, as unknown plugin names do."""

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as exc:
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1, cutoff=0.5)
            if close:
                exc.message = f"{exc.message.rstrip('.')}; did you mean {close[0]!r}?"
            raise


def _existing_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A directory that must exist: a mistyped data directory is refused, naming where the value came from."""
    from pathlib import Path

    try:
        if value is None or Path(value).expanduser().is_dir():
            return value
    except OSError:  # e.g. a name too long: the dataset lookup reports it with the dataset's name
        return value
    source = ctx.get_parameter_source(param.name)
    given = f"{param.envvar}={value}" if source is click.core.ParameterSource.ENVIRONMENT else f"{param.opts[0]} {value}"
    raise UsageError(f"{given}: {'not a directory' if Path(value).expanduser().exists() else 'no such directory'}")


def _registry():
    from ..base.progress import say
    from ..run.registry import load_registry

    registry = load_registry()
    for error in registry.errors:
        say(f"lvrbench: warning: skipped {error.line()}")
    return registry


#: Whether errors carry their full traceback: `--debug`, or LVRBENCH_DEBUG set to anything but "" or "0".
DEBUG = {"on": False}


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    DEBUG["on"] = DEBUG["on"] or value
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lvrbench", prog_name="lvrbench")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_debug,
              help="Print the full traceback of an error after its one line (or set LVRBENCH_DEBUG=1).")
def cli() -> None:
    """Benchmark GAN latent vector recovery: regularizers, resamplers, generator families, samplers."""


@cli.command()
@click.option("--all", "run_all", is_flag=True, help="Run every registered task.")
@click.option("--task", "tasks", multiple=True, metavar="NAME", help="Run this task (repeatable).")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME", help="Only these datasets (default: each task's).")
@click.option("--family", "families", multiple=True, metavar="NAME", help="Only these generator families.")
@click.option("--generator", "generators", multiple=True, metavar="NAME",
              help="Only these pretrained generators (plugins; never trained), with any --family named.")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="PATH",
              help="A state-dict file of lvrbench's own architecture, described by PATH's name with the suffix .toml "
                   "(arch, latent_dim, prior, dataset, source); run like --generator.")
@click.option("--method", "methods", multiple=True, metavar="NAME",
              help="Only these methods: regularizers and resamplers (the recovery tasks), samplers (sampling).")
@click.option("--prior", "priors", multiple=True, type=Choice(list(PRIORS)), help="Only these latent priors.")
@click.option("--profile", default="quick", show_default=True, type=Choice(list(PROFILES)),
              help="quick: minutes on a CPU, smoke-level numbers; standard: the papers' protocols at a size one 2-core CPU "
              "computes in under 2 hours (the published tables); full: the papers' protocols (for a GPU).")
@click.option("--device", default="auto", show_default=True, type=Choice(["auto", "cpu", "cuda"]))
@click.option("--seed", "seeds", multiple=True, type=click.IntRange(0, 2**63 - 1), metavar="N",
              help="Seed, a non-negative integer (repeatable; default 0).")
@click.option("--set", "overrides", multiple=True, metavar="PARAM=V1,V2", help="Replace a grid axis, e.g. --set lr=0.01,0.1.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Leaderboard root [default: leaderboards/<profile>/].")
@click.option("--cache-dir", type=click.Path(file_okay=False), envvar="LVRBENCH_CACHE_DIR", show_envvar=True,
              help="Trained networks [default: ~/.cache/lvrbench/artifacts].")
@click.option("--data-dir", envvar="LVRBENCH_DATA_DIR", show_envvar=True, callback=_existing_dir, metavar="DIRECTORY",
              help="Where dataset files are looked for first.")
@click.option("--dry-run", is_flag=True, help="List every cell with its status; compute nothing.")
@click.option("--force", is_flag=True, help="Recompute cells that already have results.")
@click.option("--executor", type=Choice(["inprocess", "local", "ray"]),
              help="How jobs are computed, each with one thread (the same numbers every way): local, a pool of worker "
                   "processes on this machine [default on the CPU]; inprocess, one after the other in this process "
                   "[default on a GPU]; ray, Ray tasks on a cluster (pip install 'lvrbench[ray]').")
@click.option("--jobs", type=click.IntRange(1), metavar="N",
              help="Jobs computed at once: local's worker processes [default: the cores], or Ray tasks in flight.")
@click.option("--ray-address", metavar="ADDR",
              help="The Ray cluster to run on (--executor ray) [default: RAY_ADDRESS, else a Ray started here].")
def run(**kwargs) -> None:
    """Compute the missing cells of the selected tasks and rebuild their leaderboards."""
    from .runner import RunOptions, run_command

    sys.exit(run_command(_registry(), RunOptions(**kwargs)))


@cli.command(name="list")
@click.option("--kind", type=Choice(KINDS), help="Only this kind of plugin.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(kind: str | None, as_json: bool) -> None:
    """List the registered plugins (and the broken ones)."""
    from tabulate import tabulate

    from ..kit.planning import dataset_prior

    registry = _registry()
    doc = registry.to_json()
    for row in doc["datasets"]:
        row["default_prior"] = dataset_prior(row["name"])
    kinds = [kind] if kind else list(KINDS)
    if as_json:
        click.echo(json.dumps({k: doc[k] for k in kinds} | {"errors": doc["errors"]}, indent=2))
        return
    for k in kinds:
        columns = LIST_COLUMNS.get(k, ())  # what a kind declares beyond its name: priors, parameters, data
        headers = ["name", *(header for header, _ in columns), "plugin", "summary"]
        rows = [[r["name"], *(cell(r) for _, cell in columns), f"{r['plugin']} {r['version']}", r["summary"]]
                for r in doc[k]]
        click.echo(f"{k}:")
        click.echo(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) if rows else "  (none)")
        click.echo()
        if k == "datasets" and rows:
            click.echo(f"default prior: {DEFAULT_PRIOR_NOTE}")
            click.echo()
        params = [[r["name"], name, _range(p), ", ".join(f"{v:g}" for v in p["grid"]), p["doc"] or "-"]
                  for r in doc[k] for name, p in r.get("hyperparameters", {}).items()]
        if params:
            click.echo(f"{k} hyper-parameters (`--set NAME=V1,V2` replaces a grid, within the range):")
            click.echo(tabulate(params, headers=[SINGULAR[k], "parameter", "range", "grid", "doc"], tablefmt="simple",
                                disable_numparse=True))
            click.echo()


def _params(row: dict) -> str:
    return ", ".join(row["params"]) or "-"


#: Per kind, the columns `lvrbench list` shows beyond name, plugin and summary: (header, the cell of a JSON row).
LIST_COLUMNS = {
    **dict.fromkeys(("regularizers", "resamplers", "samplers"), (("requires", lambda r: r["requires"]),
                                                                 ("params", _params))),
    "datasets": (("default prior", lambda r: r["default_prior"]),),
    "generators": (("dataset", lambda r: r["dataset"]), ("prior", lambda r: r["prior"]),
                   ("d_z", lambda r: str(r["latent_dim"])), ("family", lambda r: r["family"] or "- (no D)"),
                   ("source", lambda r: r.get("source", ""))),
}
DEFAULT_PRIOR_NOTE = ("the base prior a family is trained with on the dataset when --prior is not given, the same in "
                      "every profile (a family that cannot take it: N(0, 1), or its own, as GM-GAN's learned mixture); "
                      "the recovery tasks run both priors.")


def _range(param: dict) -> str:
    """A hyper-parameter's allowed values in words: "> 0", ">= 0, <= 1", "any finite number"."""
    bounds = [f"{'>' if param['exclusive_minimum'] else '>='} {param['minimum']:g}"] if param["minimum"] is not None else []
    bounds += [f"<= {param['maximum']:g}"] if param["maximum"] is not None else []
    return ", ".join(bounds) or "any finite number"


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="RESULT.json...")
@click.option("--device", default="auto", show_default=True, type=Choice(["auto", "cpu", "cuda"]))
@click.option("--cache-dir", type=click.Path(file_okay=False), envvar="LVRBENCH_CACHE_DIR", show_envvar=True,
              help="Trained networks [default: ~/.cache/lvrbench/artifacts]; an empty one retrains them too.")
@click.option("--data-dir", envvar="LVRBENCH_DATA_DIR", show_envvar=True, callback=_existing_dir, metavar="DIRECTORY",
              help="Where dataset files are looked for first.")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="PATH",
              help="The weights of a --checkpoint generator the results name (its .toml beside them), as given to run.")
def verify(results: tuple[str, ...], device: str, cache_dir: str | None, data_dir: str | None,
           checkpoints: tuple[str, ...]) -> None:
    """Recompute result files' cells from their configs and say whether the numbers reproduce (exit 1 if not).

    First checks, before any compute, that the installed versions, data digest and pretrained weights are the
    recorded ones and that the artifacts' keys are what the configs give. On the CPU numbers must be equal; on a GPU
    within the task's tolerance.
    """
    from .verify import verify_command

    sys.exit(verify_command(_registry(), results, device, cache_dir, data_dir, checkpoints))


@cli.command(name="checkpoint-template")
@click.option("--dataset", required=True, metavar="NAME", help="The registered dataset the generator models.")
@click.option("--arch", required=True, metavar="mlp|dcgan", help="lvrbench's architecture of the networks.")
@click.option("--latent-dim", type=click.IntRange(1), metavar="N",
              help="The latent size d_z G was trained with [default: the standard profile's for the dataset].")
@click.option("--prior", default="normal", show_default=True, type=Choice(list(PRIORS)), help="Its base prior.")
@click.option("--family", metavar="NAME", help="The family whose losses trained D: the weights then hold every network "
              "its build makes (default: G, and an optional encoder E).")
def checkpoint_template(dataset: str, arch: str, latent_dim: int | None, prior: str, family: str | None) -> None:
    """Print what a --checkpoint file must hold: each weight's key, shape and dtype (from building the networks), and
    the TOML file beside it."""
    from ..kit.protocols import GAN_TRAINING
    from ..run.pretrained import checkpoint_template as template

    registry = _registry()
    data = registry.get("datasets", dataset)
    click.echo(template(registry, dataset, arch, latent_dim or GAN_TRAINING[data.modality]["standard"]["latent_dim"],
                        prior, family))


@cli.group()
def leaderboard() -> None:
    """Build or check the markdown leaderboards from result JSON."""


def _roots(out: str | None) -> list:
    """The leaderboard roots `leaderboard build|check` works on: --out, or each profile's default that exists."""
    from pathlib import Path

    from .runner import DEFAULT_ROOT, default_root

    if out is not None:
        if not out.strip():
            raise UsageError("--out: empty path")
        root = Path(out)
        if not root.is_dir():
            raise UsageError(f"--out {out}: no such directory")
        return [root]
    roots = [root for root in map(default_root, PROFILES) if root.is_dir()]
    if not roots:
        raise UsageError(f"no leaderboard root here ({DEFAULT_ROOT}/<profile>/ for {', '.join(PROFILES)}); give one with --out DIR")
    return roots


@leaderboard.command()
@click.option("--out", type=click.Path(file_okay=False), help="Leaderboard root [default: each leaderboards/<profile>/ that exists].")
def build(out: str | None) -> None:
    """Write <root>/<task>.md (and figures) from <root>/results/."""
    from ..report.pages import build as build_root

    registry = _registry()
    for root in _roots(out):
        for path in build_root(registry, root):
            click.echo(f"wrote {path}")


@leaderboard.command()
@click.option("--out", type=click.Path(file_okay=False), help="Leaderboard root [default: each leaderboards/<profile>/ that exists].")
@click.option("--against", metavar="REF", help="Also say what the results do against this git revision: new cells "
              "pass; a changed or deleted cell, another profile or code revision, a dirty tree fail.")
@click.option("--verbose", is_flag=True, help="With --against, list every new file (by default: counts per task).")
@click.option("--data-dir", envvar="LVRBENCH_DATA_DIR", show_envvar=True, callback=_existing_dir, metavar="DIRECTORY",
              help="Where dataset files are looked for first (cells are planned again to be checked).")
def check(out: str | None, against: str | None, verbose: bool, data_dir: str | None) -> None:
    """Fail when a result file is invalid or not the cell the installed planner produces, when a page or figure is
    not what `build` would write, or when the root holds anything else."""
    from ..base.files import path_text
    from ..report.check import check as check_root

    registry = _registry()
    roots = _roots(out)
    problems = [f"{root}/{p}" for root in roots for p in check_root(registry, root, data_dir)]
    if against is not None:
        from ..report.review import review_roots

        problems += review_roots(roots, against, registry, verbose)
    for p in problems:
        click.echo(f"lvrbench: {path_text(p)}", err=True)
    if problems:
        sys.exit(1)
    click.echo("leaderboards match their results")


@leaderboard.command()
@click.option("--out", type=click.Path(file_okay=False), help="Leaderboard root [default: each leaderboards/<profile>/ that exists].")
@click.option("--data-dir", envvar="LVRBENCH_DATA_DIR", show_envvar=True, callback=_existing_dir, metavar="DIRECTORY",
              help="Where dataset files are looked for first.")
@click.option("--dry-run", is_flag=True, help="Say what would move; change nothing.")
def migrate(out: str | None, data_dir: str | None, dry_run: bool) -> None:
    """Re-key lvrbench 0.4 results to the revisions of the code that computed them (numbers untouched), moving each
    0.4 file to <root>/archive/<version>/, then rebuild the pages."""
    from ..report.migrate import migrate as migrate_root
    from ..report.pages import build as build_root

    registry = _registry()
    for root in _roots(out):
        for line in migrate_root(registry, root, data_dir, dry_run):
            click.echo(line)
        if not dry_run:
            for path in build_root(registry, root):
                click.echo(f"wrote {path}")


@leaderboard.command()
@click.option("--out", type=click.Path(file_okay=False), help="Leaderboard root [default: each leaderboards/<profile>/ that exists].")
@click.option("--dry-run", is_flag=True, help="Say what would move; change nothing.")
def retire(out: str | None, dry_run: bool) -> None:
    """Move results the installed code did not compute (other revisions) to <root>/archive/<version>/, byte for
    byte, then rebuild the pages: how a republished profile replaces a release's cells."""
    from ..report.migrate import retire as retire_root
    from ..report.pages import build as build_root

    registry = _registry()
    for root in _roots(out):
        for line in retire_root(registry, root, dry_run):
            click.echo(line)
        if not dry_run:
            for path in build_root(registry, root):
                click.echo(f"wrote {path}")


@cli.command(name="test", context_settings={"ignore_unknown_options": True})
@click.argument("distribution")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test_(distribution: str, pytest_args: tuple[str, ...]) -> None:
    """Run the conformance kit on an installed distribution's plugins (further arguments go to pytest, e.g. -x)."""
    from ..testing.command import run_kit

    sys.exit(run_kit(distribution, pytest_args))


@cli.group()
def cache() -> None:
    """Show or remove cached artifacts and results that this lvrbench version cannot use."""


_CACHE_DIR = click.option("--cache-dir", type=click.Path(file_okay=False), envvar="LVRBENCH_CACHE_DIR", show_envvar=True,
                          help="Trained networks [default: ~/.cache/lvrbench/artifacts].")
_RESULT_ROOTS = click.option("--out", multiple=True, type=click.Path(file_okay=False), metavar="DIR",
                             help="Leaderboard root (repeatable) [default: each leaderboards/<profile>/ that exists].")


@cache.command(name="list")
@_CACHE_DIR
@_RESULT_ROOTS
def cache_list(cache_dir: str | None, out: tuple[str, ...]) -> None:
    """List cached artifacts and result files, each current or why it is stale, with the space they take."""
    from .cache import list_command

    list_command(cache_dir, out, functools.cache(_registry))


@cache.command()
@_CACHE_DIR
@_RESULT_ROOTS
@click.option("--results", "with_results", is_flag=True,
              help="Also remove the result files the pages leave out: of other core or plugin revisions, and failed cells of "
                   "plugins not installed (and rebuild their pages).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
def prune(cache_dir: str | None, out: tuple[str, ...], with_results: bool, dry_run: bool) -> None:
    """Remove stale artifacts (another core version or revision, damaged, or not the recorded weights), killed
    writers' temporary files, and with --results the result files the pages leave out (other core or plugin
    revisions, failed cells of plugins no longer installed); say what it frees."""
    from .cache import prune_command

    prune_command(cache_dir, out, with_results, dry_run, functools.cache(_registry))


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input is one line on stderr and exit code 2, never a traceback.

    First of all, before anything imports torch, the thread policy's variables (`lvrbench.base.threads`): OpenMP
    reads them once, when torch loads, and every process a run starts inherits them."""
    threads.prepare()
    if not (sys.argv[1:] if argv is None else argv):
        click.echo(cli.get_help(click.Context(cli, info_name="lvrbench")))
        sys.exit(0)
    DEBUG["on"] = os.environ.get("LVRBENCH_DEBUG", "") not in ("", "0")
    sys.exit(_main(argv) or 0)


def _main(argv: list[str] | None) -> int | None:
    """`cli` with every error as one line on stderr and its exit code; `--debug` adds the traceback after the line."""
    try:
        code = cli.main(args=argv, prog_name="lvrbench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except SystemExit:
        if not isinstance(sys.stdout, PacifyFlushWrapper):
            raise
        code = 141  # click's exit when the reader went away (`lvrbench list | head`): what a SIGPIPE gives, not 1
    except click.exceptions.NoArgsIsHelpError as exc:  # e.g. `lvrbench leaderboard`: help, as for a bare `lvrbench`
        click.echo(exc.ctx.get_help())
        code = 0
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("lvrbench: interrupted", err=True)
        code = 130
    except Exception as exc:  # bad input is one line; so is a bug, which says where to find its stack
        code = _error_line(exc)
        if DEBUG["on"]:
            traceback.print_exc()
    return code


def _error_line(exc: Exception) -> int:
    """Print the one line an error gets on stderr; returns the exit code: 2 for bad input, 3 for a broken plugin,
    1 for a bug."""
    if isinstance(exc, click.ClickException):
        click.echo(f"lvrbench: error: {squash(exc.format_message(), MESSAGE_LIMIT)}", err=True)
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    if isinstance(exc, UsageError):
        click.echo(f"lvrbench: error: {squash(str(exc), MESSAGE_LIMIT)}", err=True)
        return EXIT_USAGE
    if isinstance(exc, PluginError):
        click.echo(f"lvrbench: plugin error: {squash(str(exc), MESSAGE_LIMIT)}", err=True)
        return EXIT_PLUGIN
    if isinstance(exc, OSError):  # the file system refused something no check foresaw (a name too long, a permission)
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"lvrbench: error: {squash(f'{where}{exc.strerror or exc}', MESSAGE_LIMIT)}", err=True)
        return 2
    click.echo(f"lvrbench: internal error: {one_line(exc, MESSAGE_LIMIT)} (run again with --debug or LVRBENCH_DEBUG=1 "
               "for the traceback, and report it)", err=True)
    return 1
