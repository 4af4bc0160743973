"""Measurements behind notebook 10: the ablation of REINFORCE's ingredients over 30 seeds, the step
sizes that motivate trust regions, the peer-library table written by bench/peers.py, the exact bias of
discounted reward-to-go weights for the undiscounted J on a small MDP (``patience_mdp``,
``discounted_expected_gradient``), and the capstone's verdict on fresh episodes (``judge_on_fresh_episodes``).

Every training number here is a statistic over seeds (pgcourse.stats): a solve rate with its Wilson
interval, steps-to-475 over all seeds with unsolved runs counted at the budget, median final returns
with their interquartile range, and for a comparison of two rows the interval of the difference.
Taught in notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pgcourse import stats
from pgcourse._validate import check_positive_int
from pgcourse.returns import reward_to_go
from pgcourse.tabular import TabularMDP, enumerate_trajectories, tabular_gradient_samples, trajectory_log_prob
from pgcourse.config import TrainConfig
from pgcourse.evaluate import fresh_returns
from pgcourse.seeds import over_seed_groups, train_seeds

__all__ = ["ABLATION", "ABLATION_SEEDS", "ABLATION_ITERATIONS", "ABLATION_ENV_STEPS", "TARGET", "StepSizes",
           "StepRecorder", "step_sizes", "format_step_sizes", "AblationRow", "ablation", "format_ablation",
           "Comparison", "compare", "format_comparison", "PEERS_JSON", "PEER_LABELS", "load_peers", "peer_rows",
           "machine_line", "peer_table_markdown", "patience_mdp", "discounted_gradient_moments",
           "discounted_expected_gradient", "FreshJudgement", "judge_on_fresh_episodes", "format_judgement"]

# Each row switches on one more ingredient; the last swaps Adam for SGD at α = 0.3, which the notebook
# introduces as one of the step sizes of notebook 09's grid. It is not that grid's best SGD α (no SGD α there
# reached 475; α = 0.1 had the highest median final return, 77 against 47 at 0.3). Notebook 10 records this
# row's step sizes beside Adam's, for its section on step sizes in policy space.
# Every other field is TrainConfig()'s default (N = 8, Adam, its lr, γ = 0.995).
ABLATION = (
    ("total return R(τ)", {"weights": "total_return", "baseline": "none", "normalise": False}),
    ("+ reward-to-go", {"weights": "reward_to_go", "baseline": "none", "normalise": False}),
    ("+ mean baseline", {"weights": "reward_to_go", "baseline": "mean", "normalise": False}),
    ("+ normalised weights (defaults)", {}),
    ("defaults, SGD α = 0.3 instead of Adam", {"optimizer": "sgd", "lr": 0.3}),
)

ABLATION_SEEDS = tuple(range(30))
"""The ablation's seeds: 30 per configuration."""
ABLATION_ITERATIONS = 25
"""The ablation's budget in gradient steps (batches of N = 8 episodes)…"""
ABLATION_ENV_STEPS = 40_000
"""…and in environment steps: a run stops at 475, or after whichever budget it spends first."""
TARGET = 475.0


# ---------------------------------------------------------------------------------------------
# step sizes in parameter space and in policy space


@dataclass
class StepSizes:
    """One entry per gradient step that was taken, over all seeds of a run (see step_sizes):
    seed, iteration k, param_step ‖θ_{k+1} − θ_k‖₂, kl the mean over batch k's states of
    KL(π_θk(·|s) ‖ π_θk+1(·|s)) (clamped at 0: float rounding can make a tiny KL come out as −4e-11),
    mean_return of batch k. All 1-d arrays of the same length."""

    seed: np.ndarray
    iteration: np.ndarray
    param_step: np.ndarray
    kl: np.ndarray
    mean_return: np.ndarray

    def __len__(self) -> int:
        return len(self.kl)

    @property
    def n_seeds(self) -> int:
        return len(set(self.seed.tolist()))

    def percentiles(self, q=(5, 50, 95)) -> dict:
        """{'param_step': (...), 'kl': (...)}: the percentiles q over all seeds' steps."""
        return {key: tuple(float(v) for v in np.percentile(getattr(self, key), q)) for key in ("param_step", "kl")}


class StepRecorder:
    """train_seeds' callback that measures every step: ‖θ_{k+1} − θ_k‖ and E_s KL(π_θk ‖ π_θk+1).

    The callback sees seed k's policy after each update; the copy kept from the previous call is
    θ_k, the policy that sampled the batch. Recorded only for steps that were taken: step 0 is
    skipped (its θ_0 is not seen), and so are batches without a step (‖∇‖ NaN: the batch reached
    the target, after which the seed stops, or the loss diverged; ‖∇‖ = 0: all weights were zero).
    """

    def __init__(self, seeds: Sequence[int]):
        self.seeds = [int(s) for s in seeds]
        self.previous: dict[int, torch.nn.Module] = {}
        self.rows: dict[str, list] = {"seed": [], "iteration": [], "param_step": [], "kl": [], "mean_return": []}

    def __call__(self, k, iteration, batch, history, policy):
        grad_norm = history.grad_norm[-1]
        old = self.previous.get(k)
        if old is not None and math.isfinite(grad_norm) and grad_norm > 0:
            obs = batch.obs[batch.mask]
            with torch.no_grad():
                kl = torch.distributions.kl_divergence(old.distribution(obs), policy.distribution(obs)).mean()
                step = torch.linalg.vector_norm(torch.cat([(p - q).reshape(-1) for p, q in
                                                           zip(policy.parameters(), old.parameters())]))
            self.rows["seed"].append(self.seeds[k])
            self.rows["iteration"].append(int(iteration))
            self.rows["param_step"].append(float(step))
            self.rows["kl"].append(max(float(kl), 0.0))
            self.rows["mean_return"].append(float(history.mean_return[-1]))
        self.previous[k] = policy

    def result(self) -> StepSizes:
        return StepSizes(seed=np.asarray(self.rows["seed"], dtype=int),
                         iteration=np.asarray(self.rows["iteration"], dtype=int),
                         **{key: np.asarray(self.rows[key], dtype=float) for key in ("param_step", "kl", "mean_return")})


def step_sizes(config: TrainConfig, seeds: Sequence[int] = (0,)) -> StepSizes:
    """‖θ_{k+1} − θ_k‖ and E_s[KL(π_θk(·|s) ‖ π_θk+1(·|s))] for every step of train_seeds(config, seeds).

    With config.target_return set a seed stops when it reaches it, so no step after solving is
    measured (StepRecorder says which steps count).
    Taught in notebooks/10_capstone.ipynb.
    """
    recorder = StepRecorder(seeds)
    train_seeds(config, seeds, progress=False, callback=recorder)
    return recorder.result()


def format_step_sizes(name: str, sizes: StepSizes, q=(5, 95)) -> str:
    """'Adam …: 30 seeds, 412 steps' and, indented on a second line, '‖Δθ‖ 5th–95th percentile
    0.33–0.61 (×1.8); KL 6e-03–1e-01 nats (1.4 orders of magnitude); 0 % of steps above 1 nat'."""
    lo, hi = q
    p_lo, p_hi = np.percentile(sizes.param_step, q)
    k_lo, k_hi = np.percentile(sizes.kl, q)
    ratio = (f"×{p_hi / p_lo:.1f}" if p_hi / p_lo < 100 else f"×{p_hi / p_lo:.0e}") if p_lo > 0 else "from 0"
    orders = f"{math.log10(k_hi / k_lo):.1f} orders of magnitude" if k_lo > 0 else "from 0"
    above = 100 * float(np.mean(sizes.kl > 1.0))
    return (f"{name}: {sizes.n_seeds} seeds, {len(sizes)} steps\n    ‖Δθ‖ {lo}th–{hi}th percentile "
            f"{p_lo:.2g}–{p_hi:.2g} ({ratio}); KL {k_lo:.0e}–{k_hi:.0e} nats ({orders}); "
            f"{above:.0f} % of steps above 1 nat")


# ---------------------------------------------------------------------------------------------
# the ablation


@dataclass
class AblationRow:
    """One configuration of the ablation, trained over its seeds by one train_seeds call.

    histories: one History per seed. budget: the env-step budget at which unsolved runs are
    censored. sizes: the step sizes of every gradient step (StepSizes) if they were recorded.
    """

    name: str
    fields: dict
    config: TrainConfig
    seeds: tuple
    histories: list
    budget: int
    sizes: StepSizes | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.histories)

    @property
    def solved(self) -> np.ndarray:
        """Per seed: reached the target within the budget (a run whose loss diverged never counts)."""
        return np.array([bool(h.solved) and not h.diverged for h in self.histories])

    @property
    def k(self) -> int:
        return int(self.solved.sum())

    @property
    def diverged(self) -> int:
        return sum(1 for h in self.histories if h.diverged)

    def steps(self) -> stats.Censored:
        """Env steps to the target over ALL seeds, a run that did not reach it counted at the budget."""
        steps = np.array([h.env_steps[-1] if ok else self.budget for h, ok in zip(self.histories, self.solved)],
                         dtype=float)
        return stats.Censored(steps=np.minimum(steps, self.budget), solved=self.solved, budget=self.budget)

    def final_returns(self) -> np.ndarray:
        """Per seed: the mean return of the last max(16, N) episodes when the run stopped."""
        return stats.final_returns(self.histories)


def _interrupted(rows_of_a_group) -> str | None:
    """The signal that stopped one of a group's rows early, if any."""
    return next((h.interrupt_signal for histories, _ in rows_of_a_group for h in histories if h.interrupt_signal), None)


def ablation(rows: Sequence[tuple[str, dict]] = ABLATION, seeds: Sequence[int] = ABLATION_SEEDS,
             iterations: int = ABLATION_ITERATIONS, max_env_steps: int = ABLATION_ENV_STEPS,
             target_return: float = TARGET, base: TrainConfig | None = None,
             record_steps: Collection[str] = ()) -> list[AblationRow]:
    """For each (name, fields): ONE train_seeds(base with fields, seeds) call, every seed stopped at
    target_return, after ``iterations`` gradient steps or after ``max_env_steps`` env steps.

    record_steps: names of rows whose step sizes (StepRecorder) are recorded as row.sizes.
    Returns one AblationRow per row; a seed whose loss diverged (history.diverged) counts as not solved.
    Taught in notebooks/10_capstone.ipynb.
    """
    base = TrainConfig() if base is None else base
    seeds = tuple(int(s) for s in seeds)
    configs = [replace(base, **fields, iterations=int(iterations), target_return=float(target_return),
                       max_env_steps=int(max_env_steps)) for _, fields in rows]

    def run(group):  # every row on one group of seeds: (histories, recorder rows or None) per row
        out = []
        for (name, _), config in zip(rows, configs):
            recorder = StepRecorder(group) if name in record_steps else None
            _, histories = train_seeds(config, group, progress=False, callback=recorder)
            out.append((histories, None if recorder is None else recorder.rows))
            if any(h.interrupted for h in histories):  # Ctrl-C: no further rows
                break
        return out

    # each group of seeds trains every row in a process of its own; the rows' seeds are then put back in order
    groups = over_seed_groups(run, seeds, interrupted=_interrupted)
    out = []
    done = min(len(group) for group in groups)  # after a Ctrl-C, the rows every group began (their last one cut short)
    for i, ((name, fields), config) in enumerate(zip(rows[:done], configs)):
        histories = [h for group in groups for h in group[i][0]]
        sizes = None
        if name in record_steps:
            recorder = StepRecorder(seeds)
            for group in groups:
                for key, values in group[i][1].items():
                    recorder.rows[key].extend(values)
            sizes = recorder.result()
        out.append(AblationRow(name, dict(fields), config, seeds, histories, int(max_env_steps), sizes))
    return out


def _k(value: float, budget: int) -> str:
    """Env steps in thousands; a censored value (inf, or at the budget) is '>40k'."""
    if not math.isfinite(value) or value >= budget:
        return f">{budget / 1000:.0f}k"
    return stats.format_k(value)


def format_ablation(rows: Sequence[AblationRow]) -> str:
    """A plain-text table, one line per row: configuration | solved k/n [95 % Wilson interval] |
    env steps to the target over all seeds (unsolved counted at the budget): median, IQR, 95 %
    bootstrap interval of the median ('>40k': censored) | final return: median (IQR)."""
    header = ("configuration", "solved [95 % CI]", "steps to 475: median", "IQR", "95 % CI", "final return")
    body = []
    for row in rows:
        steps = row.steps()
        q25, q75 = steps.quartiles()
        lo, hi = steps.interval()
        b = row.budget
        solved = stats.format_rate(row.k, row.n) + (f", {row.diverged} diverged" if row.diverged else "")
        body.append((row.name, solved, _k(steps.median(), b), f"{_k(q25, b)}–{_k(q75, b)}",
                     f"[{_k(lo, b)}, {_k(hi, b)}]", stats.format_median_iqr(row.final_returns())))
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip(), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    return "\n".join(lines)


@dataclass
class Comparison:
    """Row a against row b: the difference of the solve rates (k_a/n_a − k_b/n_b) with its 95 %
    Newcombe interval; of the censored median steps-to-target and of the median final returns, each
    with its 95 % bootstrap interval. steps_censored: a median is at the budget, so the steps
    difference is only a bound and is not reported."""

    a: str
    b: str
    rate: tuple[float, float, float]
    steps: tuple[float, float, float]
    final: tuple[float, float, float]
    steps_censored: bool

    @staticmethod
    def _shown(diff: tuple[float, float, float]) -> int:
        """+1 if the interval lies above 0, −1 if below, 0 if it contains 0 (no difference shown)."""
        return 1 if diff[1] > 0 else -1 if diff[2] < 0 else 0

    @property
    def rate_shown(self) -> int:
        return self._shown(self.rate)

    @property
    def steps_shown(self) -> int:
        return 0 if self.steps_censored else self._shown(self.steps)

    @property
    def final_shown(self) -> int:
        return self._shown(self.final)


def compare(a: AblationRow, b: AblationRow) -> Comparison:
    """a − b: solve rate (stats.newcombe_interval), censored median steps and median final return
    (stats.bootstrap_difference). Taught in notebooks/10_capstone.ipynb."""
    lo, hi = stats.newcombe_interval(a.k, a.n, b.k, b.n)
    sa, sb = a.steps(), b.steps()
    censored = not (math.isfinite(sa.median()) and math.isfinite(sb.median()))
    return Comparison(a.name, b.name, (a.k / a.n - b.k / b.n, lo, hi), stats.bootstrap_difference(sa.steps, sb.steps),
                      stats.bootstrap_difference(a.final_returns(), b.final_returns()), censored)


def format_comparison(c: Comparison) -> str:
    """'+ mean baseline − + reward-to-go: solved +0.40 [+0.16, +0.59]; steps …; final return +344 [+200, +420]'."""
    rate = f"solved {c.rate[0]:+.2f} [{c.rate[1]:+.2f}, {c.rate[2]:+.2f}]"
    steps = ("steps: a median is censored" if c.steps_censored else
             f"median steps {c.steps[0] / 1000:+.1f}k [{c.steps[1] / 1000:+.1f}k, {c.steps[2] / 1000:+.1f}k]")
    final = f"median final return {c.final[0]:+.0f} [{c.final[1]:+.0f}, {c.final[2]:+.0f}]"
    return f"{c.a}  −  {c.b}:\n    {rate}; {steps}; {final}"


# ---------------------------------------------------------------------------------------------
# bench/peers.py's results (its --json file)

PEERS_JSON = Path(__file__).resolve().parents[2] / "data" / "peers.json"
"""The peer table's results, shipped with the package: ``bench/peers.py --json pgcourse/data/peers.json`` writes it."""

PEER_LABELS = {"pgcourse": "pgcourse REINFORCE (defaults)", "ppo": "SB3 PPO (zoo)", "a2c": "SB3 A2C (zoo)",
               "tianshou": "Tianshou Reinforce (test)"}


def load_peers(path=None) -> dict | None:
    """The JSON written by ``bench/peers.py --json FILE`` ({machine, settings, pgcourse_config, results}),
    or None if the file does not exist. path: default PEERS_JSON, the results installed with the package."""
    path = PEERS_JSON if path is None else Path(path)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    for key in ("machine", "results"):
        if key not in data:
            raise ValueError(f"{path} is not a bench/peers.py --json file: it has no {key!r} key")
    return data


def peer_rows(data: dict) -> list[dict]:
    """One row per system, in the order the results list them: label, source of the
    hyperparameters, solved (k/n), and median / min / max of wall seconds and env steps over the
    solved seeds (as bench/peers.py's table)."""
    systems = list(dict.fromkeys(r["system"] for r in data["results"]))
    settings = data.get("settings", {})
    rows = []
    for system in systems:
        runs = [r for r in data["results"] if r["system"] == system]
        ok = [r for r in runs if r["solved"]]
        source = settings.get(system, {}).get("source") or settings.get(system, {}).get("config", "")
        row = {"system": system, "label": PEER_LABELS.get(system, system), "source": source,
               "solved": len(ok), "n": len(runs)}
        for key in ("wall_s", "env_steps"):
            values = [float(r[key]) for r in ok]
            row[key] = ((statistics.median(values), min(values), max(values)) if values else None)
        rows.append(row)
    return rows


def _threads(n) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def machine_line(info: dict) -> str:
    """The machine the benchmark ran on, in bench/peers.py's words."""
    git = f" (commit {info['pgcourse_git']})" if info.get("pgcourse_git") else ""   # pgcourse's own commit
    libs = ", ".join(f"{k} {info[k]}" + (git if k == "pgcourse" else "")
                     for k in ("gymnasium", "numpy", "pgcourse", "stable_baselines3", "tianshou") if k in info)
    load = "/".join(f"{x:.2f}" for x in info.get("loadavg_start", []))
    end = info.get("loadavg_end")
    return (f"machine: nproc {info.get('nproc')}, {info.get('cpu')}, python {info.get('python')}, "
            f"torch {info.get('torch')} ({_threads(info.get('torch_threads'))}), {libs}; load average at "
            f"start {load}" + (", at end " + "/".join(f"{x:.2f}" for x in end) if end else ""))


def peer_table_markdown(data: dict) -> str:
    """A Markdown table of peer_rows (median (min–max) over the solved seeds), then the machine line."""
    def cell(stat, spec):
        if stat is None:
            return "—"
        med, lo, hi = stat
        return f"{med:{spec}} ({lo:{spec}}–{hi:{spec}})"

    seeds = sorted({r["seed"] for r in data["results"]})
    lines = ["| system | hyperparameters from | solved | wall s, median (min–max) | env steps, median (min–max) |",
             "|---|---|---|---|---|"]
    for row in peer_rows(data):
        lines.append(f"| {row['label']} | {row['source']} | {row['solved']}/{row['n']} | "
                     f"{cell(row['wall_s'], '.2f')} | {cell(row['env_steps'], ',.0f')} |")
    criterion = data.get("settings", {}).get("criterion", "mean return of the last 16 finished training episodes >= 475")
    return ("\n".join(lines) + f"\n\nCartPole-v1, seeds {', '.join(map(str, seeds))}; solved = {criterion}; "
            f"statistics over the solved seeds. An illustration, not a ranking: {len(seeds)} seeds per system, "
            f"and ranges, not intervals.\n\n{machine_line(data['machine'])}")


# --- the bias of discounted reward-to-go for the undiscounted J, exactly -----------------------------------

def patience_mdp(delay: int = 3, late_reward: float = 2.0) -> TabularMDP:
    """A choice between a reward now and a larger one later: horizon T = delay + 1, two actions.

    State 0 is the choice: action 0 ("take") pays 1 and ends in the absorbing state delay + 1, which pays 0;
    action 1 ("wait") pays 0 and walks the chain 1 → 2 → … → delay whatever the actions, and state delay pays
    late_reward at the last step. The undiscounted J prefers waiting when late_reward > 1; a discounted
    reward-to-go values waiting at γ^delay · late_reward.
    Taught in notebooks/10_capstone.ipynb.
    """
    delay = check_positive_int("delay", delay)
    if not math.isfinite(late_reward):
        raise ValueError(f"late_reward must be a finite number, got {late_reward!r}")
    n_states, done = delay + 2, delay + 1
    P = torch.zeros(n_states, 2, n_states, dtype=torch.float64)
    P[0, 0, done] = 1.0                      # take: done
    P[0, 1, 1] = 1.0                         # wait: into the chain
    for s in range(1, delay):
        P[s, :, s + 1] = 1.0
    P[delay, :, done] = 1.0
    P[done, :, done] = 1.0
    R = torch.zeros(n_states, 2, dtype=torch.float64)
    R[0, 0] = 1.0
    R[delay, :] = float(late_reward)
    p0 = torch.zeros(n_states, dtype=torch.float64)
    p0[0] = 1.0
    return TabularMDP(P, R, p0, horizon=delay + 1)


def discounted_gradient_moments(mdp: TabularMDP, logits, gamma: float) -> dict:
    """The exact mean and tr Cov of one REINFORCE sample ĝ_γ = Σ_t ∇_θ log π_θ(a_t|s_t) Q̂^γ_t (a sum over every τ).

    Q̂^γ_t = Σ_{t'≥t} γ^{t'−t} r_{t'}, without the γ^t factor, as ``pgcourse.train`` uses it; with γ = 1 the
    mean is ``mdp.gradient(logits)``, the undiscounted ∇J. logits: (S, A); small MDPs only
    (``enumerate_trajectories``). Returns {"mean": (S, A) float64, "trace_cov": E‖ĝ_γ‖² − ‖E ĝ_γ‖² (a float)}.
    Taught in notebooks/10_capstone.ipynb.
    """
    logits = mdp.check_logits(logits).detach().to(torch.float64)
    obs, act = enumerate_trajectories(mdp)
    prob = trajectory_log_prob(mdp, logits, obs, act).exp()
    possible = prob > 0
    obs, act, prob = obs[possible], act[possible], prob[possible]
    g = tabular_gradient_samples(logits, obs, act, reward_to_go(mdp.R[obs, act], gamma=gamma))  # (K, S·A)
    mean = (prob[:, None] * g).sum(0)
    second = float((prob * g.pow(2).sum(1)).sum())
    return {"mean": mean.reshape(mdp.n_states, mdp.n_actions), "trace_cov": second - float(mean.pow(2).sum())}


def discounted_expected_gradient(mdp: TabularMDP, logits, gamma: float) -> Tensor:
    """E_{τ~p_θ}[Σ_t ∇_θ log π_θ(a_t|s_t) Q̂^γ_t]   (exact; ``discounted_gradient_moments``'s mean), (S, A) float64.

    Taught in notebooks/10_capstone.ipynb.
    """
    return discounted_gradient_moments(mdp, logits, gamma)["mean"]


# --- the capstone: both runs' policies judged on fresh episodes ------------------------------------------


@dataclass
class FreshJudgement:
    """The final policies of a ``pgcourse.ui.pieces.PieceRun`` on new episodes, seed by seed.

    reference, reader: (K, episodes) returns R(τ) of fresh episodes (``pgcourse.evaluate.fresh_returns``) of
    pgcourse's pieces' policy and the reader's, per seed (reader None when the reader's run failed). Policy k
    of both runs plays the same episode seeds. threshold: the environment's reward_threshold. same_policies:
    the two runs were the same run (``PieceRun.same``), so the reader's fresh returns are pgcourse's.
    """

    seeds: tuple
    reference: np.ndarray
    reader: np.ndarray | None
    threshold: float
    same_policies: bool = False
    no_reader: str = ""
    """Why there is no reader's run to judge (reader None): its pieces are stubs, or one raised."""

    def means(self, which: str) -> np.ndarray:
        """(K,): each seed's mean return over its fresh episodes."""
        return getattr(self, which).mean(axis=1)

    def difference(self) -> tuple[float, float, float, float]:
        """Δ_k = mean fresh return of the reader's policy k − pgcourse's policy k; (the median of Δ_k over the K
        seeds, min Δ_k, max Δ_k, and the coverage of [min, max] for the median of Δ, 1 − 2·0.5^K: 93.75 % for
        K = 5). The order-statistic interval holds for any distribution of Δ; a bootstrap of five values would
        cover far less than it claims."""
        delta = self.means("reader") - self.means("reference")
        return float(np.median(delta)), float(delta.min()), float(delta.max()), 1 - 2 * 0.5 ** len(delta)


def judge_on_fresh_episodes(run, env_id: str, episodes: int = 100, threshold: float | None = None) -> FreshJudgement:
    """Both runs of ``run`` (a PieceRun: pgcourse's pieces and the reader's, same seeds) on ``episodes`` fresh
    episodes per seed; threshold defaults to gymnasium's reward_threshold of env_id.
    Taught in notebooks/10_capstone.ipynb.
    """
    import gymnasium as gym

    if threshold is None:
        threshold = gym.spec(env_id).reward_threshold
    seeds = tuple(int(s) for s in run.seeds)
    reference = fresh_returns(run.reference_policies, seeds, env_id, episodes)
    if run.reader is None or run.fallback:
        why = "your pieces are not written yet" if run.fallback else "your pieces raised an error (see above)"
        return FreshJudgement(seeds, reference, None, float(threshold), no_reader=why)
    if run.same:                              # the same policies, seed for seed: the same fresh episodes
        return FreshJudgement(seeds, reference, reference.copy(), float(threshold), same_policies=True)
    return FreshJudgement(seeds, reference, fresh_returns(run.reader_policies, seeds, env_id, episodes),
                          float(threshold))


def format_judgement(judgement: FreshJudgement, reader_label: str = "your pieces") -> str:
    """A table of each seed's mean fresh return for both runs and their difference Δ_k, how many seeds
    clear the threshold, and the median of Δ_k with the seeds' range, an order-statistic interval for it."""
    j = judgement
    k, episodes = j.reference.shape
    ref = j.means("reference")
    head = f"mean return of {episodes} fresh episodes per seed (threshold {j.threshold:.0f})"
    if j.reader is None:
        lines = [head, "seed | pgcourse's pieces"] + [f"{s:4d} | {r:17.1f}" for s, r in zip(j.seeds, ref)]
        lines.append(f"pgcourse's pieces: {int((ref >= j.threshold).sum())} of {k} seeds at or above "
                     f"{j.threshold:.0f}; no run with {reader_label} to compare ({j.no_reader or 'no run'})")
        return "\n".join(lines)
    yours = j.means("reader")
    lines = [head, f"seed | pgcourse's pieces | {reader_label:>17s} |     Δ"]
    lines += [f"{s:4d} | {r:17.1f} | {y:17.1f} | {y - r:+5.1f}" for s, r, y in zip(j.seeds, ref, yours)]
    lines.append(f"at or above {j.threshold:.0f}: pgcourse's pieces on {int((ref >= j.threshold).sum())} of {k} seeds, "
                 f"{reader_label} on {int((yours >= j.threshold).sum())} of {k}")
    if j.same_policies:
        lines.append(f"{reader_label} trained the same policies as pgcourse's, seed for seed (the same run): "
                     "Δ is exactly 0")
    else:
        diff, lo, hi, coverage = j.difference()
        lines.append(f"Δ = yours − pgcourse's, paired by seed: median {diff:+.1f}; the {k} seeds' range "
                     f"[{lo:+.1f}, {hi:+.1f}] is a {coverage:.2%} interval for the median of Δ")
    return "\n".join(lines)
