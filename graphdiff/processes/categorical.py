"""Categorical fields: discrete diffusion with uniform, marginal or absorbing transitions
(D3PM / DiGress / ConStruct).

Transitions mix the current class with a prior distribution ``m`` (uniform; the data's class
marginals as in DiGress; or all mass on class 0, the *absorbing* state, as in D3PM's absorbing
process: for an edge field class 0 is "no edge", so noise only deletes edges, the noise model
ConStruct pairs with a structural constraint, :mod:`graphdiff.constraints`):
``Q̄_t = ᾱ_t I + (1 − ᾱ_t) 1 mᵀ``, so

    q(x_t | x_0) = ᾱ_t onehot(x_0) + (1 − ᾱ_t) m,

and the prior at ``t = 1`` is ``m``. The denoiser predicts logits of ``x_0`` and is trained with
cross-entropy. A reverse step from ``t`` to ``s`` marginalises the prediction over the
posterior (``α_{t|s} = ᾱ_t / ᾱ_s``, ``i`` the current class):

    p(x_s = j | x_t = i) ∝ q(x_t = i | x_s = j) Σ_k p̂(k) q(x_s = j | x_0 = k) / q(x_t = i | x_0 = k)
    q(x_t = i | x_s = j) = α_{t|s} δ_ij + (1 − α_{t|s}) m_i
    q(x_s = j | x_0 = k) = ᾱ_s δ_jk + (1 − ᾱ_s) m_j

Edge fields use the same process over all node pairs (class 0 = no edge), DiGress-style.
States are ``long`` class ids; :meth:`model_input` gives one-hot features.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from graphdiff.graph import FieldKind, FieldSpec
from graphdiff.processes.base import Process
from graphdiff.schedules import NoiseSchedule

__all__ = ["CategoricalProcess"]


class CategoricalProcess(Process):
    """Discrete diffusion of a categorical field (node, graph or edge level).

    Parameters
    ----------
    field:
        A categorical field.
    schedule:
        The noise schedule giving ``ᾱ_t``.
    prior:
        ``"uniform"``, ``"marginal"`` (class frequencies of the training data, set by
        :meth:`fit`; uniform until then) or ``"absorbing"`` (class 0: every element ends in
        class 0, and a reverse step never leaves any other class).
    """

    kind: ClassVar[FieldKind] = FieldKind.CATEGORICAL
    deterministic: ClassVar[bool] = False

    def __init__(self, field: FieldSpec, schedule: NoiseSchedule,
                 prior: Literal["uniform", "marginal", "absorbing"] = "marginal", **options: Any) -> None:
        super().__init__(field)
        if options:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(options)}")
        if prior not in ("uniform", "marginal", "absorbing"):
            raise ValueError(f"field {field.name!r}: prior must be uniform, marginal or absorbing, got {prior!r}")
        self.schedule = schedule
        self.prior_kind = prior
        c = field.num_classes
        if prior == "absorbing":
            self.register_buffer("m", F.one_hot(torch.tensor(0), c).float())
        else:
            self.register_buffer("m", torch.full((c,), 1.0 / c))

    def fit(self, x0: torch.Tensor, index: torch.Tensor | None = None) -> None:
        if self.prior_kind != "marginal":
            return
        counts = torch.bincount(x0.long().view(-1), minlength=self.field.num_classes).double()
        # a small floor keeps every class reachable (a class absent from the data gets ~1e-4)
        m = (counts + 1e-4 * counts.sum().clamp_min(1)) / (counts.sum() * (1 + 1e-4 * self.field.num_classes))
        self.m.copy_((m / m.sum()).float())

    def prior(self, num: int, index: torch.Tensor, num_graphs: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
        probs = self.m.to(index.device).expand(num, -1)
        if num == 0:
            return torch.zeros(0, dtype=torch.long, device=index.device)
        return torch.multinomial(probs, 1, generator=generator).view(-1)

    def noise(self, x0: torch.Tensor, t: torch.Tensor, index: torch.Tensor,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = x0.long().view(-1)
        ab = self.schedule.alpha_bar(t).float().to(self.m.device).unsqueeze(-1)
        probs = ab * F.one_hot(x0, self.field.num_classes).float() + (1 - ab) * self.m
        if x0.numel() == 0:
            return x0, x0
        x_t = torch.multinomial(probs, 1, generator=generator).view(-1)
        return x_t, x0

    def encode(self, x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return x0.long().view(-1)

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot(x.long(), self.field.num_classes).float()

    def loss(self, pred: torch.Tensor, target: torch.Tensor, x0: torch.Tensor,
             t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pred, target.long(), reduction="none")

    def guide(self, pred: torch.Tensor, pred_uncond: torch.Tensor, scale: float) -> torch.Tensor:
        """Guidance on log-probabilities of ``x_0``."""
        return (1 + scale) * F.log_softmax(pred, -1) - scale * F.log_softmax(pred_uncond, -1)

    def posterior(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float) -> torch.Tensor:
        """``p(x_s | x_t)`` as probabilities ``[M, C]`` for states ``x`` and logits ``pred``."""
        ab_t = self.schedule.alpha_bar_float(t)
        ab_s = self.schedule.alpha_bar_float(s)
        a_ts = ab_t / ab_s
        p0 = torch.softmax(pred.float(), -1)
        onehot = F.one_hot(x.long(), self.field.num_classes).float()
        m = self.m.to(p0)
        m_i = m[x.long()].unsqueeze(-1)  # [M, 1]
        left = a_ts * onehot + (1 - a_ts) * m_i  # q(x_t = i | x_s = j), over j
        denom = ab_t * onehot + (1 - ab_t) * m_i  # q(x_t = i | x_0 = k), over k
        w = p0 / denom.clamp_min(1e-12)
        mix = ab_s * w + (1 - ab_s) * m * w.sum(-1, keepdim=True)
        probs = left * mix
        return probs / probs.sum(-1, keepdim=True).clamp_min(1e-12)

    def step(self, x: torch.Tensor, pred: torch.Tensor, t: float, s: float, index: torch.Tensor,
             generator: torch.Generator | None = None, deterministic: bool = False) -> torch.Tensor:
        if x.numel() == 0:
            return x
        if s <= 0:
            if self.prior_kind == "absorbing":  # an element out of class 0 stays; the others: most likely class
                return torch.where(x.long() > 0, x.long(), pred.argmax(-1))
            return pred.argmax(-1)  # last step: the most likely clean class
        probs = self.posterior(x, pred, t, s)
        if deterministic:
            return probs.argmax(-1)
        return torch.multinomial(probs, 1, generator=generator).view(-1)

    def finalize(self, x: torch.Tensor) -> torch.Tensor:
        return x.long()

    def config(self) -> dict[str, Any]:
        return {"schedule": self.schedule.config(), "prior": self.prior_kind}
