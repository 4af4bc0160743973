"""K independent copies of a network, evaluated and trained together (one copy per seed).

Training one small policy per seed wastes the machine: a CartPole policy is two tiny matrix
products per environment step. ``train_seeds`` trains K seeds in one process instead: every
parameter θ of shape ``shape`` is stored once as a (K, *shape) tensor, the K networks run as
one batched matrix product (``torch.baddbmm``), and each copy keeps its own optimizer state.
Slice k of every computation depends only on copy k's parameters and data. It can differ from a
lone copy's computation in the last bits (batched products and padding to a common episode
length round differently); one copy computes exactly what the single module computes
(tests/test_train_seeds.py checks both).

Used by pgcourse.seeds.engine (and notebook 05's imitation runs); the algorithm is taught in
notebooks/03_reinforce.ipynb with pgcourse.train.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from ..policies import CategoricalPolicy, GaussianPolicy

__all__ = ["ParamStack", "PolicyStack", "StackedUniform", "UniformStream", "ValueStack", "StackedOptimizer"]


class ParamStack:
    """The parameters of K copies of one module, as leaf tensors of shape (K, *shape).

    modules: K modules of the same architecture (e.g. K policies built from K seeds).
    ``params[name]`` stacks ``modules[k].<name>`` along a new first dimension.
    ``module(k)`` returns a fresh, ordinary module holding copy k (for saving, evaluating,
    plotting): the stack is a training device, what the learner gets back is a normal policy.
    """

    def __init__(self, modules):
        modules = list(modules)
        if not modules:
            raise ValueError("need at least one module to stack")
        self.template = copy.deepcopy(modules[0])
        names = [name for name, _ in self.template.named_parameters()]
        self.params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in modules]).requires_grad_()
                       for name in names}

    @property
    def k(self) -> int:
        """K, the number of copies."""
        return next(iter(self.params.values())).shape[0]

    def parameters(self) -> list[Tensor]:
        return list(self.params.values())

    def module(self, k: int) -> nn.Module:
        """Copy k as an ordinary module (its own tensors, in eval mode)."""
        out = copy.deepcopy(self.template)
        with torch.no_grad():
            for name, p in out.named_parameters():
                p.copy_(self.params[name][k])
        return out.eval()

    def layers(self, prefix: str, net: nn.Sequential) -> list:
        """``net``'s layers for K copies: (W (K, out, in), b (K, out)) per Linear, the activation otherwise."""
        return [(self.params[f"{prefix}{j}.weight"], self.params[f"{prefix}{j}.bias"])
                if isinstance(layer, nn.Linear) else layer.forward for j, layer in enumerate(net)]

    def mlp(self, prefix: str, net: nn.Sequential, x: Tensor, layers: list | None = None) -> Tensor:
        """K copies of ``net`` applied to x (K, ..., in) -> (K, ..., out): y_k = net_{θ_k}(x_k).

        Each Linear layer is one batched product x_k W_kᵀ + b_k (``torch.baddbmm``); activations act
        elementwise. With one copy it is exactly ``net`` (``F.linear``, as nn.Linear computes it).
        """
        k, *middle, _ = x.shape
        h = x if x.dim() == 3 else x.reshape(k, -1, x.shape[-1])
        for layer in self.layers(prefix, net) if layers is None else layers:
            if not isinstance(layer, tuple):
                h = layer(h)
            elif k == 1:
                h = nn.functional.linear(h[0], layer[0][0], layer[1][0])[None]
            elif len(layer) == 4:  # prepared by ``prepare``: the same views, made once
                h = torch.baddbmm(layer[2], h, layer[3])
            else:
                h = torch.baddbmm(layer[1][:, None, :], h, layer[0].transpose(1, 2))
        return h if len(middle) == 1 else h.reshape(k, *middle, h.shape[-1])

    @staticmethod
    def prepare(layers: list) -> list:
        """``layers`` with the views ``mlp`` takes of each Linear (b_k as a row, W_kᵀ) made once, for a rollout
        that applies the same parameters at every step; the products are the same."""
        prepared = []
        for layer in layers:
            if isinstance(layer, tuple) and layer[0].shape[0] > 1:
                w, b = layer
                layer = (w, b, b[:, None, :], w.transpose(1, 2))
            prepared.append(layer)
        return prepared

    def copy(self, k: int) -> "ParamStack":
        """Copy k alone, as a stack of one whose parameters are views of row k (gradients flow back into
        the stack): with one copy, ``mlp`` computes exactly what the single module computes."""
        view = copy.copy(self)
        view.params = {name: p[k:k + 1] for name, p in self.params.items()}
        return view

    def detached(self, index: Tensor) -> "ParamStack":
        """The copies ``index`` (a LongTensor), detached: a view for sampling without gradients."""
        view = copy.copy(self)
        view.params = {name: p.detach()[index] for name, p in self.params.items()}
        return view


class PolicyStack(ParamStack):
    """K policies π_{θ_k} (all CategoricalPolicy or all GaussianPolicy), batched over the first dim.

    obs (K, ..., obs_dim); act (K, ...) or (K, ..., act_dim). Same formulas as the single
    policies in pgcourse/policies.py.
    """

    def __init__(self, policies):
        super().__init__(policies)
        if not isinstance(self.template, (CategoricalPolicy, GaussianPolicy)):
            raise ValueError(f"PolicyStack stacks CategoricalPolicy or GaussianPolicy, got {type(self.template).__name__}")
        self.discrete = isinstance(self.template, CategoricalPolicy)

    _layers = None  # set by detached(): the layers, prepared once for a whole rollout

    def _prefix_net(self):
        return ("logits_net.", self.template.logits_net) if self.discrete else ("mu_net.", self.template.mu_net)

    def detached(self, index: Tensor) -> "PolicyStack":
        view = super().detached(index)
        view._layers = view.prepare(view.layers(*view._prefix_net()))
        return view

    def _net(self, obs: Tensor) -> Tensor:
        return self.mlp(*self._prefix_net(), obs, self._layers)

    def _log_std(self, like: Tensor) -> Tensor:
        log_std = self.params["log_std"]  # (K, act_dim)
        return log_std.reshape(log_std.shape[0], *([1] * (like.dim() - 2)), log_std.shape[1])

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        """log π_{θ_k}(a|s) for every copy k: shape obs.shape[:-1]."""
        return self._log_prob(self._net(obs), act)

    def _log_prob(self, out: Tensor, act: Tensor) -> Tensor:
        if self.discrete:
            return torch.log_softmax(out, -1).gather(-1, act.long().unsqueeze(-1)).squeeze(-1)
        log_std = self._log_std(out)
        z = (act - out) * torch.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std).sum(-1) - 0.5 * out.shape[-1] * math.log(2 * math.pi)

    def entropy(self, obs: Tensor) -> Tensor:
        """H[π_{θ_k}(·|s)], shape obs.shape[:-1]."""
        return self._entropy(self._net(obs))

    def _entropy(self, out: Tensor) -> Tensor:
        # the arithmetic of torch.distributions' Categorical and Normal entropies, which the policies use
        if self.discrete:
            logits = out - out.logsumexp(-1, keepdim=True)
            probs = torch.softmax(logits, -1)
            return -(logits.clamp(min=torch.finfo(logits.dtype).min) * probs).sum(-1)
        log_sigma = torch.log(self._log_std(out).exp()).expand(out.shape)
        return (0.5 + 0.5 * math.log(2 * math.pi) + log_sigma).sum(-1)

    def log_prob_and_entropy(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """(log_prob(obs, act), entropy(obs)) from one pass through the network; the entropy is detached.

        The same numbers as the two calls, at the cost of one forward pass instead of two (the
        trainer logs the entropy of every batch it steps on).
        """
        out = self._net(obs)
        with torch.no_grad():
            ent = self._entropy(out.detach())
        return self._log_prob(out, act), ent

    def sample_with(self, obs: Tensor, uniforms: Tensor, clamped: bool = False) -> Tensor:
        """a ~ π_{θ_k}(·|s) by the Gumbel-max trick from given uniforms (K, ..., n_actions) (Categorical only).

        clamped: the uniforms already lie in [1e-12, 1] (``StackedUniform(..., low=1e-12)``)."""
        out = self._net(obs)
        return (out - torch.log(-torch.log(uniforms if clamped else uniforms.clamp(1e-12, 1.0)))).argmax(-1)

    def sample(self, obs: Tensor, generators) -> Tensor:
        """a ~ π_{θ_k}(·|s) for each copy k, drawing copy k's noise from generators[k].

        The noise has the shape a single policy draws, so copy k samples exactly what
        ``policies.CategoricalPolicy.sample`` / ``GaussianPolicy.sample`` would with the same generator.
        """
        out = self._net(obs)
        noise = [g.rand(out.shape[1:]) if isinstance(g, UniformStream) else
                 (torch.rand if self.discrete else torch.randn)(out.shape[1:], generator=g) for g in generators]
        noise = noise[0][None] if len(noise) == 1 else torch.stack(noise)
        if self.discrete:
            return (out - torch.log(-torch.log(noise.clamp_(1e-12, 1.0)))).argmax(-1)
        return out + self._log_std(out).exp() * noise

    def mode(self, obs: Tensor) -> Tensor:
        out = self._net(obs)
        return out.argmax(-1) if self.discrete else out


class UniformStream:
    """Uniform draws from a torch.Generator, fetched ``chunk`` calls at a time.

    ``rand(shape)`` returns what ``torch.rand(shape, generator=g)`` would return on this call
    (torch's CPU generator gives the same sequence for one large draw as for many small ones),
    but asks the generator once per ``chunk`` calls: sampling a 500-step episode costs a few
    draws instead of 500.
    """

    def __init__(self, generator: torch.Generator, chunk: int = 64):
        self.generator, self.chunk = generator, int(chunk)
        self.buffer, self.used, self.shape = None, 0, None

    def rand(self, shape) -> Tensor:
        shape = tuple(shape)
        if self.buffer is None or self.used == len(self.buffer) or shape != self.shape:
            if self.buffer is not None and self.used < len(self.buffer):
                raise ValueError("UniformStream: the shape changed with draws left in the buffer")
            self.buffer, self.used, self.shape = torch.rand((self.chunk, *shape), generator=self.generator), 0, shape
        self.used += 1
        return self.buffer[self.used - 1]


class StackedUniform:
    """K uniform streams advanced together: ``rand(blocks)`` is draw t of each stream in ``blocks``.

    Stream k gives exactly the draws ``torch.rand(shape, generator=generators[k])`` would give on
    successive calls; a whole chunk of steps for all K streams is fetched at once, so a step costs
    one indexing operation. Every call advances every stream (blocks that are not asked for have
    finished their episodes and never need their draws).
    """

    def __init__(self, generators, shape, chunk: int = 64, low: float | None = None):
        self.generators, self.shape, self.chunk, self.low = list(generators), tuple(shape), int(chunk), low
        self.buffer, self.t = None, 0

    def rand(self, blocks=None) -> Tensor:
        """Draw t of each stream (K, *shape), or of the streams ``blocks``; clamped below at ``low`` if given."""
        i = self.t % self.chunk
        if i == 0:
            buffer = torch.stack([torch.rand((self.chunk, *self.shape), generator=g) for g in self.generators])
            if self.low is not None:
                buffer.clamp_(self.low, 1.0)
            self.buffer = buffer.unbind(1)  # the chunk's steps, each the view buffer[:, i]
        self.t += 1
        out = self.buffer[i]
        return out if blocks is None else out[blocks]


class ValueStack(ParamStack):
    """K value baselines V_{φ_k}(s) (pgcourse.baselines.ValueBaseline), batched over the first dim."""

    def __call__(self, obs: Tensor) -> Tensor:
        return self.mlp("net.", self.template.net, obs).squeeze(-1)


class StackedOptimizer:
    """Adam or SGD on K stacked copies, each with its own state; a step moves only the chosen copies.

    SGD:  θ_k ← θ_k − α g_k.
    Adam (Kingma & Ba, 2015), per copy k with its own step count t_k:
        m_k ← β₁ m_k + (1 − β₁) g_k,   v_k ← β₂ v_k + (1 − β₂) g_k²,
        θ_k ← θ_k − α (m_k / (1 − β₁^{t_k})) / (√(v_k / (1 − β₂^{t_k})) + ε)
    (the same arithmetic as torch.optim.Adam). Copies that do not step keep θ, m, v and t unchanged,
    so a copy that stopped training is frozen, and ``step(which)`` with one copy is plain Adam.
    Used by pgcourse.seeds.engine; Adam itself is taught in notebooks/09_implementing_policy_gradients.ipynb.
    """

    def __init__(self, params: list[Tensor], name: str, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        if name not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be one of 'sgd', 'adam'; got {name!r}")
        self.params, self.name, self.lr = list(params), name, float(lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        k = self.params[0].shape[0]
        self.t = torch.zeros(k, dtype=torch.float64)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, which: Tensor) -> None:
        """Update the copies where ``which`` (bool, (K,)) is True, from each parameter's .grad.

        Copy by copy, with the operations of torch.optim.Adam / SGD (single-tensor path), so that one
        copy steps exactly as a torch optimizer on that copy alone would.
        """
        for k in which.nonzero().flatten().tolist():
            if self.name == "sgd":
                for p in self.params:
                    p[k].add_(p.grad[k], alpha=-self.lr)
                continue
            self.t[k] += 1
            step = float(self.t[k])
            bias_correction1 = 1 - self.beta1 ** step
            bias_correction2_sqrt = (1 - self.beta2 ** step) ** 0.5
            step_size = self.lr / bias_correction1
            for p, m, v in zip(self.params, self.m, self.v):
                g = p.grad[k]
                m[k].lerp_(g, 1 - self.beta1)
                v[k].mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
                denom = (v[k].sqrt() / bias_correction2_sqrt).add_(self.eps)
                p[k].addcdiv_(m[k], denom, value=-step_size)
