"""Pretrained generators: their weights read safely, checked against their networks, and the no-code checkpoint route.

A pretrained generator (`lvrbench.api.Pretrained`) is another source of the same `lvrbench.api.TrainedGAN`
a family's training gives: tasks run on it unchanged and never train it. Its weights are a state dict, read
with `torch.load(..., weights_only=True)` only (nothing is unpickled), and its identity is their digest plus
its package's version. `--checkpoint PATH` names weights of one of lvrbench's own architectures
(`lvrbench.api.networks`), described by the TOML file beside them (`PATH` with the suffix `.toml`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api.contracts import NAME, Family, Pretrained
from ..api.datainfo import DataInfo
from ..api.networks import ARCHS
from ..api.priors import PRIORS
from ..base.errors import UsageError, one_line
from ..engine.specs import family_of

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .registry import Registry

#: The fields of a checkpoint's TOML file: (type, required, what it says).
CHECKPOINT_FIELDS: dict[str, tuple[type, bool, str]] = {
    "arch": (str, True, f"lvrbench's architecture of its networks: {' or '.join(ARCHS)} (lvrbench/api/networks.py)"),
    "latent_dim": (int, True, "the latent size d_z G was trained with"),
    "prior": (str, True, f"its base prior: {' or '.join(PRIORS)}"),
    "dataset": (str, True, "the registered dataset it models"),
    "source": (str, True, "where it comes from (a URL, a paper, a run): shown on every page"),
    "family": (str, False, "the family whose losses trained its D (needed when the weights hold a D)"),
    "name": (str, False, "its name on the command line and the pages (default: the weights file's stem)"),
}
#: How many key names a missing- or unexpected-keys message lists before it counts the rest.
LISTED_KEYS = 4


#: What every refusal of a weights file ends with: how to write one lvrbench reads.
SAVE_STATE_DICT = "save the weights alone: torch.save(model.state_dict(), PATH)"


def read_state(path: Path, where: str) -> dict[str, torch.Tensor]:
    """The flat state dict in a weights file, read with `weights_only=True`: a pickled payload is refused, never run."""
    import re

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{where}: is a directory, not a weights file") from None
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers, with an UnpicklingError
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found and found.group(1).startswith("torch.nn.modules."):
            raise UsageError(f"{where}: a pickled torch.nn.Module ({found.group(1)}), not a state dict: "
                             f"{SAVE_STATE_DICT}") from None
        if found:
            raise UsageError(f"{where}: holds a pickled Python object ({found.group(1)}), which weights_only=True never "
                             f"loads (unpickling it could run code): {SAVE_STATE_DICT}") from None
        raise UsageError(f"{where}: not a file torch.save wrote ({one_line(exc, 120)}): {SAVE_STATE_DICT}") from None
    return flat_state(state, where)


def flat_state(state: Any, where: str) -> dict[str, torch.Tensor]:
    """`state` as {"G.0.weight": tensor, ...}: nested dicts ({"G": {"0.weight": ...}}) are joined with '.'."""
    import torch

    if not isinstance(state, dict):
        raise UsageError(f"{where}: holds {_a(type(state).__name__)}, not a state dict: {SAVE_STATE_DICT}")
    if isinstance(state.get("state_dict"), dict):  # what Lightning and many training scripts save
        raise UsageError(f"{where}: a training checkpoint (keys {', '.join(map(str, state))}), not a state dict: save "
                         "its weights alone: torch.save(checkpoint['state_dict'], PATH)")
    out: dict[str, torch.Tensor] = {}

    def walk(prefix: str, node: dict) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(f"{name}.", value)
            elif isinstance(value, torch.Tensor):
                out[name] = value
            else:
                raise UsageError(f"{where}: {name} is {_a(type(value).__name__)}, not a tensor: {SAVE_STATE_DICT}")
    walk("", state)
    return out


def _a(noun: str) -> str:
    """`noun` with its indefinite article ("an int", "a list")."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """The digest of a state dict's contents (keys, dtypes, shapes and bytes): equal weights, equal digest."""
    import torch

    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(f"{key} {t.dtype} {tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _listed(keys: list[str]) -> str:
    more = len(keys) - LISTED_KEYS
    return ", ".join(keys[:LISTED_KEYS]) + (f" (and {more} more)" if more > 0 else "")


def load_state(nets: nn.ModuleDict, state: dict[str, torch.Tensor], where: str, expects: str) -> None:
    """Load `state` into `nets`, refusing in one line (naming `where`) missing or unexpected keys and wrong shapes.

    `expects` says what the networks were built for (e.g. "gen's mlp with latent_dim 16 on fashion-mnist (1, 28, 28)").
    """
    import torch

    wanted = nets.state_dict()
    for key, value in wanted.items():  # shapes first: a wrong latent size or sample shape shows in the first layers
        if key not in state:
            continue
        if tuple(state[key].shape) != tuple(value.shape):
            raise UsageError(f"{where}: {key} has shape {list(state[key].shape)}, but {expects} expects "
                             f"{list(value.shape)}")
        if state[key].dtype.is_floating_point != value.dtype.is_floating_point:
            raise UsageError(f"{where}: {key} holds {state[key].dtype}, the networks {value.dtype}")
    missing = [k for k in wanted if k not in state]
    if missing:
        raise UsageError(f"{where}: missing keys {_listed(missing)} (the networks {', '.join(nets)} of {expects})")
    unexpected = [k for k in state if k not in wanted]
    if unexpected:
        raise UsageError(f"{where}: unexpected keys {_listed(unexpected)} (the networks {', '.join(nets)} of {expects})")
    with torch.no_grad():
        nets.load_state_dict({k: v.to(wanted[k].dtype) for k, v in state.items()})


def where_of(registry: Registry, gen: Pretrained, weights: Any) -> str:
    """How messages name a generator's weights: a --checkpoint's file; a plugin's generator (and its file)."""
    if isinstance(gen, Checkpoint):
        return str(weights)
    return f"generator {gen.name}: {weights}" if isinstance(weights, (str, os.PathLike)) else f"generator {gen.name}"


def load_pretrained(registry: Registry, gen: Pretrained) -> tuple[nn.ModuleDict, str]:
    """`gen`'s networks with its weights loaded (on the CPU, in eval mode) and the digest of those weights.

    Everything is checked, each problem one UsageError line: the dataset and family it names exist, its networks
    are the ones it declares (the family's too), its weights fit them key for key and shape for shape, and G
    maps `latent_dim` latents to samples of the dataset's shape.
    """
    import torch

    try:
        data = registry.get("datasets", gen.dataset).info
        family = family_of(registry, gen)
    except UsageError as exc:
        raise UsageError(f"generator {gen.name} ({registry.provenance(gen)}): {exc}") from None
    needed = sorted(set(family.networks) - set(gen.networks)) if gen.family else []
    if needed:
        raise UsageError(f"generator {gen.name} names family {gen.family}, whose losses read networks "
                         f"{', '.join(needed)} it does not declare")
    weights = registry.call(gen, "weights")
    where = where_of(registry, gen, weights)
    state = read_state(Path(weights), where) if isinstance(weights, (str, os.PathLike)) else flat_state(weights, where)
    nets = registry.call(gen, "build", data)
    if not isinstance(nets, torch.nn.ModuleDict) or sorted(nets) != sorted(gen.networks):
        got = sorted(nets) if isinstance(nets, torch.nn.ModuleDict) else type(nets).__name__
        raise UsageError(f"generator {gen.name}: build must return a torch.nn.ModuleDict keyed {sorted(gen.networks)}, "
                         f"got {got}")
    load_state(nets, state, where, f"{gen.name}'s {gen.arch or 'networks'} with latent_dim {gen.latent_dim} on "
                                   f"{data.name} {data.shape}")
    nets.eval()
    try:
        with torch.no_grad():
            probe = nets["G"](gen.latent_prior().sample(2, torch.Generator().manual_seed(0)))
    except Exception as exc:  # a plugin's own G: its failure is one line, before any work
        raise UsageError(f"{where}: G fails on latents of {gen.latent_dim} elements ({one_line(exc, 160)})") from None
    if tuple(probe.shape[1:]) != tuple(data.shape):
        raise UsageError(f"{where}: G makes samples of shape {tuple(probe.shape[1:])}, but {data.name} has shape "
                         f"{tuple(data.shape)}")
    return nets, state_digest(state)


class Checkpoint(Pretrained):
    """A checkpoint of one of lvrbench's own architectures, named with --checkpoint and described by its TOML file."""

    def __init__(self, name: str, weights_path: Path, meta: dict, networks: dict[str, str], family: Family | None):
        self.name, self.path = name, weights_path
        self.dataset, self.prior, self.latent_dim = meta["dataset"], meta["prior"], meta["latent_dim"]
        self.arch, self.source, self.family = meta["arch"], meta["source"], meta.get("family")
        self.networks = networks
        self._family = family  # the family whose networks the weights are of, built as its `build` builds them

    def build(self, data: DataInfo) -> nn.ModuleDict:
        from torch import nn

        from ..api.networks import build_encoder, build_generator

        if self._family is not None:
            return self._family.build(data, self.latent_dim, self.arch)
        nets = {"G": build_generator(data, self.latent_dim, self.arch)}
        if "E" in self.networks:
            nets["E"] = build_encoder(data, self.latent_dim, self.arch)
        return nn.ModuleDict(nets)

    def weights(self) -> Path:
        return self.path


def checkpoint_meta_path(path: Path) -> Path:
    """Where a checkpoint's TOML file is: beside the weights, the same name with the suffix `.toml`."""
    return path.with_suffix(".toml")


def checkpoint_template(registry: Registry, dataset: str, arch: str, latent_dim: int, prior: str = "normal",
                        family: str | None = None) -> str:
    """What a --checkpoint of lvrbench's `arch` networks on `dataset` holds, from building them as `run` builds them:
    each weight's key, shape and dtype, then the TOML file beside it (every field, the optional ones commented out)."""
    data = registry.get("datasets", dataset).info
    fam = registry.get("families", family) if family else None
    if fam is not None:
        fam.check(data, prior)
    if prior not in PRIORS:
        raise UsageError(f"unknown prior {prior!r} (known: {', '.join(PRIORS)})")
    if arch not in ARCHS:
        raise UsageError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")
    networks = dict(fam.networks) if fam else {"G": "generator", "E": "encoder"}
    meta = {"dataset": dataset, "prior": prior, "latent_dim": latent_dim, "arch": arch, "source": "", "family": family}
    nets = Checkpoint("gen", Path("gen.pt"), meta, networks, fam).build(data)
    optional = set() if fam else {"E"}  # without a family the weights hold G, and may hold an encoder E
    rows = [(key, list(value.shape), str(value.dtype).removeprefix("torch."), key.split(".", 1)[0] in optional)
            for key, value in nets.state_dict().items()]
    width = max(len(key) for key, *_ in rows)
    out = [f"# gen.pt: torch.save(nets.state_dict(), \"gen.pt\") of lvrbench's {arch} networks on {dataset} {data.shape}, "
           f"latent_dim {latent_dim}, " + (f"as family {family} builds them ({', '.join(nets)})" if fam else
                                           "no family: G, and an encoder E if it has one (marked optional)"),
           "# ({\"G\": G.state_dict(), ...} works too); every key below, each tensor of this shape:"]
    out += [f"{key:<{width}}  {str(shape):<14} {dtype}{'  (optional)' if opt else ''}" for key, shape, dtype, opt in rows]
    out += ["", "# gen.toml, beside it (the same name with the suffix .toml):"]
    values = {**meta, "family": family or "vanilla", "name": "gen"}
    for key, (kind, required, what) in CHECKPOINT_FIELDS.items():
        value = values[key] if kind is str else int(values[key])
        line = f"{key} = {json.dumps(value) if kind is str else value}"
        if not required and not (key == "family" and fam):
            line = f"# {line}"
        out.append(f"{line:<28}# {'required' if required else 'optional'}: {what}")
    return "\n".join(out)


def read_checkpoint(registry: Registry, given: str) -> Checkpoint:
    """The checkpoint `--checkpoint given` names, its TOML file and weights checked (one UsageError line each)."""
    import tomllib

    path = Path(given).expanduser()
    where = f"--checkpoint {given}"
    if not path.is_file():
        raise UsageError(f"{where}: {'not a file' if path.exists() else 'no such file'}")
    toml = checkpoint_meta_path(path)
    if not toml.is_file():
        raise UsageError(f"{where}: no {toml} beside it (it says {', '.join(k for k, f in CHECKPOINT_FIELDS.items() if f[1])}; "
                         "see CONTRIBUTING.md)")
    try:
        meta = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{toml}: not valid TOML ({one_line(exc, 160)})") from None
    unknown = sorted(set(meta) - set(CHECKPOINT_FIELDS))
    if unknown:
        raise UsageError(f"{toml}: unknown key {unknown[0]!r} (known: {', '.join(sorted(CHECKPOINT_FIELDS))})")
    for key, (kind, required, _) in CHECKPOINT_FIELDS.items():
        if key not in meta:
            if required:
                raise UsageError(f"{toml}: missing key {key!r} ({CHECKPOINT_FIELDS[key][2]})")
            continue
        value = meta[key]
        if kind is int and (type(value) is not int or value < 1):
            raise UsageError(f"{toml}: {key} must be a positive integer, got {value!r}")
        if kind is str and not isinstance(value, str):
            raise UsageError(f"{toml}: {key} must be a string, got {value!r}")
        if kind is str and not value.strip():
            raise UsageError(f"{toml}: {key} is empty ({CHECKPOINT_FIELDS[key][2]})")
    for key, choices in (("arch", ARCHS), ("prior", tuple(PRIORS))):
        if meta[key] not in choices:
            raise UsageError(f"{toml}: {key} must be {' or '.join(choices)}, got {meta[key]!r}")
    name = meta.get("name", path.stem.lower())
    if not NAME.fullmatch(name):
        raise UsageError(f"{toml}: {name!r} is no valid generator name (lower-case letters, digits, '.', '_', '-'): "
                         "set `name`")
    for kind, key in (("datasets", "dataset"), ("families", "family")):
        if key in meta:
            try:
                registry.entry(kind, meta[key])
            except UsageError as exc:
                raise UsageError(f"{toml}: {exc}") from None
    state = read_state(path, str(path))
    first = state.get("G.0.weight")  # both architectures open with a Linear(latent_dim, ...): compared before building
    if first is not None and first.dim() == 2 and first.shape[1] != meta["latent_dim"]:
        raise UsageError(f"{toml}: latent_dim is {meta['latent_dim']}, but the first layer of G in {path} (G.0.weight, "
                         f"shape {list(first.shape)}) takes {first.shape[1]}")
    present = sorted({k.split(".", 1)[0] for k in state})
    if meta.get("family"):
        networks = dict(registry.get("families", meta["family"]).networks)
    else:
        extra = [k for k in present if k not in ("G", "E")]
        if extra:
            raise UsageError(f"{path}: holds weights of {', '.join(extra)} but {toml} names no family (set `family`, "
                             "e.g. \"vanilla\", to say which losses trained them)")
        networks = {"G": "generator", **({"E": "encoder"} if "E" in present else {})}
    family = registry.get("families", meta["family"]) if meta.get("family") else None
    return Checkpoint(name, path, meta, networks, family)


def register_checkpoint(registry: Registry, given: str) -> str:
    """Read `--checkpoint given` (`read_checkpoint`) and register it as a generator; returns its name. A run's driver
    and each of its worker processes call it, so that every registry holds the same generators."""
    from .. import __version__
    from .registry import BUILTIN_DISTRIBUTION, Entry

    checkpoint = read_checkpoint(registry, given)
    registry.add(Entry("generators", checkpoint.name, checkpoint, BUILTIN_DISTRIBUTION, __version__, f"--checkpoint {given}"))
    return checkpoint.name
