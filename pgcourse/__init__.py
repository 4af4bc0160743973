"""pgcourse: the package behind the policy-gradient course (CS285 lecture 5).

The names follow the lecture's symbols (π_θ, τ, R(τ), Q̂, b, ρ): see the notebooks that teach each one.
"""

from .baselines import ValueBaseline, mean_baseline, normalise, time_mean_baseline
from .baselines import optimal_baseline, optimal_baseline_from_samples, optimal_scalar_baseline, subtract_baseline
from .batch import Batch, make_vector_env, sample_batch
from .estimators import pg_pseudo_loss
from .estimators import GradientSummary, compare_to_exact, gradient_samples, n_params, trajectory_scores
from .importance import (effective_sample_size, first_order_is_weights, log_ratios, per_decision_is_weights,
                         notes_causal_is_weights, trajectory_is_weights, trajectory_ratio)
from .lab import ESTIMATORS, LabContext, compare_estimators, format_summaries, make_lab
from .policies import CategoricalPolicy, GaussianPolicy, make_policy
from .returns import reward_to_go, total_return
from .tabular import TabularMDP, TabularSoftmaxPolicy, tabular_gradient_samples
from .history import History
from .config import TrainConfig
from .runs import batch_seed
from .reinforce import train
from .stats import bootstrap_interval, median_iqr, steps_to_target, wilson_interval

__all__ = ["ValueBaseline", "mean_baseline", "normalise", "time_mean_baseline", "optimal_baseline",
           "optimal_baseline_from_samples", "optimal_scalar_baseline", "subtract_baseline", "Batch",
           "make_vector_env", "sample_batch", "pg_pseudo_loss", "GradientSummary", "compare_to_exact",
           "gradient_samples", "n_params", "trajectory_scores", "effective_sample_size", "first_order_is_weights",
           "log_ratios", "per_decision_is_weights", "notes_causal_is_weights", "trajectory_is_weights",
           "trajectory_ratio", "ESTIMATORS", "LabContext", "compare_estimators", "format_summaries", "make_lab",
           "CategoricalPolicy", "GaussianPolicy", "make_policy", "reward_to_go", "total_return", "TabularMDP",
           "TabularSoftmaxPolicy", "tabular_gradient_samples", "History", "TrainConfig", "batch_seed", "train", "bootstrap_interval", "median_iqr",
           "steps_to_target", "wilson_interval"]

__version__ = "0.1.0"
