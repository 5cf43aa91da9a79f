"""The six kinds of plugin and the contract each must keep.

A plugin package subclasses one of these and returns instances from the matching hook
(see `lvrbench.hookspecs`). Nothing here imports torch, so that `lvrbench --help` stays fast.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from .errors import UsageError
from .priors import Prior

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .recovery import RecoveryContext


#: What a plugin's (and a hyper-parameter's) name may be: lower-case letters, digits, '.', '_', '-'.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class Param:
    """A method hyper-parameter: its published grid and the range outside which it is refused."""

    name: str
    grid: tuple[float, ...]
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    doc: str = ""

    def check(self, owner: str, value: float) -> None:
        """Raise a one-line UsageError when `value` is non-finite or out of range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UsageError(f"{owner}: {self.name} must be a finite number, got {value!r}")
        if self.minimum is not None:
            if self.exclusive_minimum and value <= self.minimum:
                raise UsageError(f"{owner}: {self.name} must be > {self.minimum:g}, got {value:g}")
            if not self.exclusive_minimum and value < self.minimum:
                raise UsageError(f"{owner}: {self.name} must be >= {self.minimum:g}, got {value:g}")
        if self.maximum is not None and value > self.maximum:
            raise UsageError(f"{owner}: {self.name} must be <= {self.maximum:g}, got {value:g}")


class Plugin:
    """Common to every kind: a registry name and a one-line summary (the docstring's first line)."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    #: Where the method comes from, e.g. "Cho, paper 000 §1"; shown by `lvrbench list`.
    source: ClassVar[str] = ""

    @property
    def summary(self) -> str:
        """The first line of the plugin's docstring: what `lvrbench list` shows."""
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def __repr__(self) -> str:
        return f"<{SINGULAR.get(self.kind, self.kind)} {self.name!r}>"


class Method(Plugin):
    """Something a recovery task compares: a regularizer or a resampler."""

    #: The priors the method is defined for: "normal", "uniform", "iid" (any IID prior) or "any".
    requires: ClassVar[str] = "any"
    params: ClassVar[tuple[Param, ...]] = ()

    def supports(self, prior: Prior) -> bool:
        """Whether the method is defined for `prior`."""
        return prior.satisfies(self.requires)

    def unsupported(self, priors: Sequence[str]) -> str:
        """The one-line refusal of this method with `priors` (prior names) it is not defined for."""
        return f"{self.name} is defined for the {self.requires} prior, not the {' or '.join(priors)} prior"

    def check_params(self, values: dict[str, float]) -> None:
        """Refuse unknown, missing, non-finite or out-of-range hyper-parameters in one line."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise UsageError(f"{self.name}: unknown hyper-parameter {unknown[0]!r} (it has: {', '.join(declared) or 'none'})")
        for p in self.params:
            if p.name not in values:
                raise UsageError(f"{self.name}: hyper-parameter {p.name!r} is missing")
            p.check(self.name, values[p.name])


#: Paper 000's latent-regulation-loss weights (Tables 2-11); 0 is the "no loss" column.
PAPER_WEIGHTS = (0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)


class Regularizer(Method):
    """A latent regulation loss added to the reconstruction loss with a per-row weight."""

    kind = "regularizers"
    params = (Param("weight", PAPER_WEIGHTS, minimum=0.0, doc="latent regulation loss weight λ"),)
    #: True when `loss` needs `ctx.realness` (the family's discriminator); implies `needs_generated`.
    needs_discriminator: ClassVar[bool] = False
    #: True when `loss` reads `ctx.generated` (G(z)). The engine then calls `loss` once per grid row, with
    #: that row's generator pass, instead of once over all rows.
    needs_generated: ClassVar[bool] = False

    def loss(self, z: torch.Tensor, prior: Prior, ctx: RecoveryContext) -> torch.Tensor:
        """One loss value per latent: z is [H, N, d] (grid rows x images x latent), the result [H, N].

        Random draws (e.g. prior samples) come from `ctx.generator`, a seeded CPU generator (draw
        on the CPU, then move to z.device), with no grid axis (shape [N, ...], broadcast over
        H), so a cell's numbers never depend on which other grid rows share its batch. H counts
        only the rows with a positive weight; the engine multiplies by each row's weight.
        """
        raise NotImplementedError


class Resampler(Method):
    """A rule applied after every optimizer step that redraws latent elements from the prior."""

    kind = "resamplers"

    def apply(
        self,
        z: torch.Tensor,
        prior: Prior,
        step: int,
        total_steps: int,
        generator: torch.Generator,
        params: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Return the resampled z ([H, N, d]); `params` hold one value per grid row, shaped [H, 1, 1].

        Draw random numbers with shape z.shape[1:] (no grid axis) and broadcast them over H, so a
        cell's numbers never depend on which other grid rows share its batch. `generator` is a
        seeded CPU generator: draw on the CPU, then move the numbers to z.device.
        """
        raise NotImplementedError


@dataclass
class Batch:
    """One training iteration's inputs; `fake` is G(z), computed once and shared by both players."""

    real: torch.Tensor
    z: torch.Tensor
    nets: nn.ModuleDict
    _fake: Any = field(default=None, repr=False)

    @property
    def fake(self) -> torch.Tensor:
        """G(z) of this batch, computed once and shared by the discriminator and generator losses."""
        if self._fake is None:
            self._fake = self.nets["G"](self.z)
        return self._fake


class Family(Plugin):
    """A GAN formulation: which networks it has and the losses the shared training loop minimises."""

    kind = "families"
    priors: ClassVar[tuple[str, ...]] = ("normal", "uniform")
    #: Discriminator steps per generator step.
    critic_steps: ClassVar[int] = 1

    def build(self, data: DataInfo, latent_dim: int, arch: str) -> nn.ModuleDict:
        """The networks, keyed "G", "D" (and "E" where the family has an encoder)."""
        from .networks import build_discriminator, build_generator
        from torch import nn

        return nn.ModuleDict({"G": build_generator(data, latent_dim, arch), "D": build_discriminator(data, arch)})

    def sample_latent(self, nets: nn.ModuleDict, prior: Prior, n: int, latent_dim: int, generator: torch.Generator, device) -> torch.Tensor:
        """Draw training latents; a family with a learned prior (GM-GAN) overrides this."""
        return prior.sample((n, latent_dim), generator, device)

    def discriminator_loss(self, batch: Batch) -> torch.Tensor:
        """Scalar loss of the discriminator's (and any other D-side player's) update."""
        raise NotImplementedError

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        """Scalar loss of the generator's (and encoder's, where there is one) update."""
        raise NotImplementedError

    def realness(self, nets: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        """Per-sample generator adversarial loss of x ([B]): low where D judges x real.

        The trick-discriminator prior loss of Yeh et al. uses it during recovery.
        """
        raise NotImplementedError

    def after_discriminator_step(self, nets: nn.ModuleDict) -> None:
        """Hook after each D update (WGAN clips weights here)."""

    def player_parameters(self, nets: nn.ModuleDict) -> tuple[list, list]:
        """Parameters of the D-side and G-side players (an encoder trains with G)."""
        d_side = list(nets["D"].parameters())
        g_side = [p for key, m in nets.items() if key != "D" for p in m.parameters()]
        return d_side, g_side


class AdversarialFamily(Family):
    """A family defined by two per-sample losses on discriminator outputs (vanilla, LSGAN, hinge, ...)."""

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """Scalar discriminator loss from D's raw outputs on real and generated batches."""
        raise NotImplementedError

    def g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """Per-sample generator loss from D's raw outputs ([B] -> [B])."""
        raise NotImplementedError

    def discriminator_loss(self, batch: Batch) -> torch.Tensor:
        D = batch.nets["D"]
        return self.d_loss(D(batch.real).flatten(), D(batch.fake.detach()).flatten())

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        return self.g_loss(batch.nets["D"](batch.fake).flatten()).mean()

    def realness(self, nets: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        return self.g_loss(nets["D"](x).flatten())


@dataclass(frozen=True)
class DataInfo:
    """What the core needs to know about a dataset to build networks and evaluators for it."""

    name: str
    modality: str  # "image" or "points"
    shape: tuple[int, ...]
    num_classes: int | None = None


class Dataset(Plugin):
    """A dataset: a train and a test split, loaded from real files or generated from a fixed seed."""

    kind = "datasets"
    modality: ClassVar[str] = "image"
    shape: ClassVar[tuple[int, ...]] = ()
    num_classes: ClassVar[int | None] = None

    @property
    def info(self) -> DataInfo:
        """What networks are built for: name, modality, sample shape, number of classes."""
        return DataInfo(self.name, self.modality, tuple(self.shape), self.num_classes)

    def fingerprint(self, data_dir: str | None) -> str:
        """A digest of what both splits hold: part of the identity of every cell and network that uses them.

        Reads the data, so a dataset that cannot be loaded raises here, before any work: a one-line
        UsageError naming the dataset and how to provide it. This default hashes `load`'s tensors.
        """
        digest = hashlib.sha256()
        for split in ("train", "test"):
            for tensor in self.load(split, data_dir):
                digest.update(f"{split} {tensor.dtype} {tuple(tensor.shape)};".encode())
                digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def load(self, split: str, data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of a split ("train" or "test"): x float32 scaled to [-1, 1], y int64 labels (or mode ids)."""
        raise NotImplementedError


class Sampler(Plugin):
    """A post-hoc sampler that draws better samples from a trained generator (DRS, DDLS, ...)."""

    kind = "samplers"
    params: ClassVar[tuple[Param, ...]] = ()

    def sample(self, nets: nn.ModuleDict, family: Family, prior: Prior, n: int, latent_dim: int, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        """n samples and statistics of how they were drawn (e.g. acceptance rate)."""
        raise NotImplementedError


class Task(Plugin):
    """A benchmark protocol: which cells exist, how a group of them is computed, how results are tabled."""

    kind = "tasks"
    profiles: ClassVar[tuple[str, ...]] = ("quick", "full")
    #: (label, dotted config path) pairs the page's protocol line states from its results (see `protocol`);
    #: the default names the generator artifact fields `lvrbench.env.gan_spec` gives every task that trains one.
    protocol_fields: ClassVar[tuple[tuple[str, str], ...]] = (
        ("family", "settings.gan.family"), ("architecture", "settings.gan.arch"), ("d_z", "settings.gan.latent_dim"),
        ("GAN epochs", "settings.gan.train.epochs"), ("batch", "settings.gan.train.batch_size"),
        ("GAN learning rate", "settings.gan.train.lr"), ("seeds", "seed"))

    def protocol(self, results: list[dict]) -> str:
        """The page's protocol line: `source` cited, then what the results' configs say was run (never the paper's numbers)."""
        from .leaderboard import protocol_text

        return protocol_text(self.source, results, self.protocol_fields)

    def plan(self, request: Any) -> list:
        """The jobs (groups of cells computed together) for a `lvrbench.harness.PlanRequest`."""
        raise NotImplementedError

    def parameters(self, request: Any) -> set[str]:
        """The hyper-parameter names `--set NAME=...` may override in this request's grid."""
        return set()

    def method_names(self, registry: Any) -> set[str]:
        """The names `--method` may select in this task."""
        return set()

    def validate(self, result: dict) -> list[str]:
        """What is wrong with an ok result of this task for `render` (result files may come from pull requests)."""
        return []

    def run(self, job: Any, env: Any) -> list:
        """Compute a job's cells; one `lvrbench.harness.CellOutcome` per cell, in order."""
        raise NotImplementedError

    def render(self, results: list[dict], page: Any) -> str:
        """The markdown body of this task's leaderboard from its result dicts."""
        raise NotImplementedError


KIND_CLASSES: dict[str, type[Plugin]] = {
    "regularizers": Regularizer,
    "resamplers": Resampler,
    "families": Family,
    "samplers": Sampler,
    "tasks": Task,
    "datasets": Dataset,
}
KINDS = tuple(KIND_CLASSES)
#: The kinds a recovery task compares: the Method subclasses the recovery engine runs.
RECOVERY_KINDS = ("regularizers", "resamplers")
SINGULAR = {"regularizers": "regularizer", "resamplers": "resampler", "families": "family",
            "samplers": "sampler", "tasks": "task", "datasets": "dataset"}
