"""pgcourse: the package behind the policy-gradient course (CS285 lecture 5).

The names follow the lecture's symbols; see DESIGN §3 of the course notes.
"""

from .baselines import ValueBaseline, mean_baseline, normalise, time_mean_baseline
from .batch import Batch, make_vector_env, sample_batch
from .estimators import pg_pseudo_loss
from .estimators import GradientSummary, compare_to_exact, gradient_samples, n_params, trajectory_scores
from .policies import CategoricalPolicy, GaussianPolicy, make_policy
from .returns import reward_to_go, total_return
from .tabular import TabularMDP, TabularSoftmaxPolicy, tabular_gradient_samples
from .train import History, TrainConfig, train

__version__ = "0.1.0"
