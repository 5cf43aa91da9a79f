"""The recovery engine: gradient-descent latent vector recovery, batched over images and grid.

One call optimises z of shape [H, N, d]: H hyper-parameter rows (learning rate, regularizer
weight, resampler parameters: one row per cell) times N target images, with the generator's
weights frozen. Adam runs per row (the update of torch.optim.Adam, written out so each row has
its own learning rate), so the batch gives the same numbers as running every cell on its own:
rows never interact, and every random draw is shaped [N, ...] and shared by all grid rows.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from ..api.contracts import Method, RecoveryContext, Regularizer, ResampleContext, Resampler
from ..api.priors import Prior
from ..base.errors import UsageError
from ..base.progress import bar

#: Part of the identity of every cell: bump it when a change here changes a recovered latent.
REVISION = 1
BETAS = (0.9, 0.999)
EPS = 1e-8


def _l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).abs().mean(-1)


def _l2(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).square().mean(-1)


#: diff(x, G(z)) per row. "l1" is paper 000's mean absolute error; "l2" is paper 001's squared
#: error ||x - G(z)||^2 divided by the number of pixels, which keeps regularizer weights on the
#: same scale as "l1" (Adam is invariant to the constant for plain recovery).
DIFFS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"l1": _l1, "l2": _l2}


@dataclass
class RecoveryResult:
    """Recovered latents [H, N, d], final diff [H, N], and the step each row first went non-finite (0: never)."""

    z: torch.Tensor
    diff: torch.Tensor
    diverged_at: torch.Tensor


@contextmanager
def frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Evaluation mode and no weight gradients for the duration; restored afterwards."""
    present = [m for m in modules if m is not None]
    modes = [(sub, sub.training) for m in present for sub in m.modules()]
    flags = [(p, p.requires_grad) for m in present for p in m.parameters()]
    for m in present:
        m.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for sub, training in modes:
            sub.training = training
        for p, flag in flags:
            p.requires_grad_(flag)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero on the CPU for the duration (restored to torch's default after).

    Adam's moment estimates decay into subnormal range for latents the loss barely moves, and
    x86 arithmetic on subnormals is many times slower: up to 6x on the whole recovery here.
    """
    enabled = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)


def validate(method: Method, prior: Prior, grid: Sequence[dict[str, float]], realness, diff: str = "l1") -> None:
    """Refuse, before any work, a method/prior mismatch and out-of-range hyper-parameters."""
    if diff not in DIFFS:
        raise UsageError(f"unknown diff {diff!r} (known: {', '.join(DIFFS)})")
    if not grid:
        raise UsageError(f"{method.name}: the hyper-parameter grid is empty")
    if not method.supports(prior):
        raise UsageError(method.unsupported([prior.kind]))
    if isinstance(method, Regularizer) and method.needs_discriminator and realness is None:
        raise UsageError(f"{method.name} needs the family's discriminator, and none was given")
    if not isinstance(method, (Regularizer, Resampler)):
        raise UsageError(f"{method.name} is not a regularizer or resampler")
    validate_grid(method, grid)


def validate_grid(method: Method, grid: Sequence[dict[str, float]]) -> None:
    """Refuse a grid row whose lr is not a finite number > 0 or whose method parameters are out of range."""
    for row in grid:
        lr = row.get("lr")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise UsageError(f"{method.name}: lr must be a finite number > 0, got {lr!r}")
        method.check_params({k: v for k, v in row.items() if k != "lr"})


#: How each step evaluates G over a job's grid rows.
#: "rows": each row's pass on its own [N, ...] batch, so every operation a cell's numbers flow through
#: has shapes fixed by that cell's own config and a cell gives the same bits alone, in its grid, in any
#: subset or chunk (the CPU default). "stacked": a chunk's rows in one [rows * N, ...] pass, few large
#: launches (the GPU default); a BLAS may then pick kernels by the stacked row count, so the last bits
#: of a cell can depend on its batch-mates.
PASSES = ("rows", "stacked")


def default_pass(device: torch.device) -> str:
    """The generator pass a device runs fastest while keeping what the README promises for it."""
    return "stacked" if device.type == "cuda" else "rows"


def default_max_rows(device: torch.device, generator_pass: str) -> int:
    """Latents per chunk: rows mode holds one row's activations at a time, so only z and Adam's moments grow."""
    if generator_pass == "rows":
        return 1 << 20
    return 1 << 16 if device.type == "cuda" else 1 << 13


def recover(
    G: nn.Module,
    targets: torch.Tensor,
    prior: Prior,
    method: Method,
    grid: Sequence[dict[str, float]],
    *,
    steps: int,
    init: torch.Tensor | None,
    latent_dim: int,
    seed: int,
    diff: str = "l1",
    realness: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_rows: int | None = None,
    generator_pass: str | None = None,
    desc: str = "recovery",
) -> RecoveryResult:
    """Recover latents of `targets` ([N, ...]) for every row of `grid` (dicts with "lr" + method params).

    `init` is [N, d] (shared by every grid row) or None for zeros (paper 000). Grid rows are
    processed in chunks of at most `max_rows` latents; each chunk restarts the generator from
    `seed`, which is exact because a row's random draws never depend on the other rows.
    `generator_pass` ("rows" or "stacked", see PASSES) and `max_rows` default per device.
    """
    validate(method, prior, grid, realness, diff)
    device = targets.device
    generator_pass = generator_pass or default_pass(device)
    if generator_pass not in PASSES:
        raise UsageError(f"unknown generator pass {generator_pass!r} (known: {', '.join(PASSES)})")
    max_rows = max_rows or default_max_rows(device, generator_pass)
    dtype = next(G.parameters()).dtype
    n = targets.shape[0]
    per_chunk = max(1, max_rows // max(n, 1))
    chunks = [list(grid[i:i + per_chunk]) for i in range(0, len(grid), per_chunk)]
    results = []
    rowwise = generator_pass == "rows"
    with frozen(G), torch.enable_grad(), flush_denormals(), bar(steps * len(chunks), desc) as progress:
        for rows in chunks:
            engine = _Chunk(G, targets.to(dtype), prior, method, rows, latent_dim, DIFFS[diff], realness, steps, seed)
            results.append(engine.run(init, rowwise, progress))
    return RecoveryResult(*(torch.cat([getattr(r, f) for r in results]) for f in ("z", "diff", "diverged_at")))


def _adam(z: torch.Tensor, m: torch.Tensor, v: torch.Tensor, grad: torch.Tensor, lr: float | torch.Tensor, step: int) -> None:
    """torch.optim.Adam's update of z in place (its moments m, v too); lr a float or one per row, [H, 1, 1]."""
    beta1, beta2 = BETAS
    m.mul_(beta1).add_(grad, alpha=1 - beta1)
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
    denom = (v.sqrt() / math.sqrt(bias2)).add_(EPS)
    if isinstance(lr, float):
        z.addcdiv_(m, denom, value=-lr / bias1)
    else:
        z.sub_((lr / bias1) * (m / denom))


class _Chunk:
    """One chunk of grid rows optimised together: z [H, N, d] with per-row Adam."""

    def __init__(self, G, targets, prior, method, rows, latent_dim, diff_fn, realness, steps, seed):
        self.G, self.prior, self.method, self.diff_fn, self.realness = G, prior, method, diff_fn, realness
        self.h, self.n, self.d, self.steps = len(rows), targets.shape[0], latent_dim, steps
        self.targets = targets.reshape(1, self.n, -1)
        device, dtype = targets.device, targets.dtype
        self.generator = torch.Generator().manual_seed(seed)
        self.params = {p.name: torch.tensor([r[p.name] for r in rows], device=device, dtype=dtype) for p in method.params}
        self.lr = torch.tensor([r["lr"] for r in rows], device=device, dtype=dtype).view(self.h, 1, 1)
        self.weight = self.params.get("weight", torch.zeros(self.h, device=device, dtype=dtype))
        # Only rows with a positive weight evaluate the regularizer, so weight-0 rows equal `none` exactly
        # even when a regularizer misbehaves on them.
        regularized = isinstance(method, Regularizer)
        self.active = (self.weight > 0).nonzero().squeeze(1) if regularized else self.weight.new_zeros(0, dtype=torch.long)
        #: The regularizer reads G(z), so its loss runs with each row's own generator pass.
        self.per_row = regularized and (method.needs_generated or method.needs_discriminator)

    def _penalty(self, step: int, rows: torch.Tensor, z: torch.Tensor, generated: torch.Tensor | None) -> torch.Tensor:
        """weight * regularizer loss, [len(rows), N], for latents z of those rows."""
        params = {k: t[rows].view(-1, 1) for k, t in self.params.items()}
        ctx = RecoveryContext(self.prior, step, self.steps, self.generator, generated, params, self.realness)
        return self.weight[rows].view(-1, 1) * self.method.loss(z, ctx)

    def _z_penalty_gradient(self, z: torch.Tensor, step: int) -> torch.Tensor | None:
        """d (weight * loss) / d z of the active rows [A, N, d] for a regularizer on z alone, in one call.

        Its operations are elementwise or reduce a latent's own d elements, so a row's numbers do not depend
        on the other rows (checked per method by the tests); its random draws are shaped [N, ...].
        """
        if self.per_row or not self.active.numel():
            return None
        za = z[self.active].detach().requires_grad_(True)
        return torch.autograd.grad(self._penalty(step, self.active, za, None).sum(), za)[0]

    def _row_update(self, z, m, v, h: int, step: int, penalty: torch.Tensor | None, state: torch.Tensor | None) -> None:
        """Row h's Adam step through its own generator pass, on its own [N, d] slices of z, m and v.

        Where the method reads G(z), the row's penalty draws from the generator set to `state`, the same for
        every row, as one call over all rows would see it.
        """
        zh = z[h].detach().requires_grad_(True)
        out = self.G(zh)
        loss = self.diff_fn(out.reshape(1, self.n, -1), self.targets)
        if state is not None:
            self.generator.set_state(state)
            loss = loss + self._penalty(step, self.active.new_tensor([h]), zh.unsqueeze(0), out)
        grad = torch.autograd.grad(loss.sum(), zh)[0]
        if penalty is not None:
            grad = grad + penalty
        with torch.no_grad():
            _adam(z[h], m[h], v[h], grad, float(self.lr[h]), step)

    def _rows_step(self, z: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int) -> None:
        """One Adam step, row by row: each row's generator pass and update see only the row's own shapes."""
        penalty = self._z_penalty_gradient(z, step)
        slot = {int(h): i for i, h in enumerate(self.active)}
        state = self.generator.get_state() if self.per_row and slot else None
        for h in range(self.h):
            active = h in slot
            self._row_update(z, m, v, h, step, penalty[slot[h]] if penalty is not None and active else None,
                             state if active else None)

    def _stacked_step(self, z: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int) -> None:
        """One Adam step with every row's generator pass in one batch."""
        zs = z.detach().requires_grad_(True)
        out = self.G(zs.reshape(self.h * self.n, self.d))
        loss = self.diff_fn(out.reshape(self.h, self.n, -1), self.targets)
        if self.per_row and self.active.numel():
            sub = out.reshape(self.h, self.n, *out.shape[1:])[self.active].reshape(-1, *out.shape[1:])
            loss = loss.index_add(0, self.active, self._penalty(step, self.active, zs[self.active], sub))
        grad = torch.autograd.grad(loss.sum(), zs)[0]
        penalty = self._z_penalty_gradient(z, step)
        if penalty is not None:
            grad = grad.index_add(0, self.active, penalty)
        with torch.no_grad():
            _adam(z, m, v, grad, self.lr, step)

    def _final_diff(self, z: torch.Tensor, rowwise: bool) -> torch.Tensor:
        with torch.no_grad():
            if rowwise:
                return torch.stack([self.diff_fn(self.G(z[h]).reshape(1, self.n, -1), self.targets)[0] for h in range(self.h)])
            return self.diff_fn(self.G(z.reshape(self.h * self.n, self.d)).reshape(self.h, self.n, -1), self.targets)

    def run(self, init: torch.Tensor | None, rowwise: bool, progress) -> RecoveryResult:
        """The whole descent from `init` (zeros when None), shared by every row."""
        device, dtype = self.targets.device, self.targets.dtype
        start = torch.zeros(self.n, self.d, dtype=dtype) if init is None else init.to("cpu", dtype)
        z = start.to(device).unsqueeze(0).repeat(self.h, 1, 1)
        m = torch.zeros_like(z)
        v = torch.zeros_like(z)
        diverged_at = torch.zeros(self.h, self.n, dtype=torch.long, device=device)
        resampler = self.method if isinstance(self.method, Resampler) else None
        for step in range(1, self.steps + 1):
            if rowwise:
                self._rows_step(z, m, v, step)
            else:
                self._stacked_step(z, m, v, step)
            with torch.no_grad():
                bad = ~torch.isfinite(z).all(-1)  # before resampling, which could paper over a NaN
                diverged_at.masked_fill_(bad & (diverged_at == 0), step)
                if resampler is not None:
                    params = {k: t.view(self.h, 1, 1) for k, t in self.params.items()}
                    z = resampler.apply(z, ResampleContext(self.prior, step, self.steps, self.generator, params))
            progress.update()
        return RecoveryResult(z, self._final_diff(z, rowwise), diverged_at)
