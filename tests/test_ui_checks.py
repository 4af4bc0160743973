"""The checker machinery: passes the reference, fails wrong code and stubs with the first mismatch."""

import inspect

import pytest
import torch

from pgcourse.ui.checks import check_function, first_mismatch


def reference(x, scale=1.0):
    return torch.cumsum(x, -1) * scale


CASES = [((torch.tensor([1.0, 2.0, 3.0]),), {}), ((torch.tensor([[1.0, -1.0]]),), {"scale": 2.0})]


def test_reference_passes(capsys):
    result = check_function("cumsum", reference, reference, CASES)
    assert result.passed and "PASS cumsum: all 2 cases" in capsys.readouterr().out


def test_wrong_value_reports_first_mismatch(capsys):
    result = check_function("cumsum", lambda x, scale=1.0: torch.cumsum(x, -1), reference, CASES)
    assert not result.passed
    assert "case 2" in result.message and "at index (0, 0), expected 2" in result.message
    assert capsys.readouterr().out.startswith("❌ FAIL")


def test_stub_and_crash_are_failures_not_exceptions():
    def stub(x, scale=1.0):
        raise NotImplementedError

    assert "not implemented yet" in check_function("f", stub, reference, CASES, verbose=False).message
    crash = check_function("f", lambda x, scale=1.0: x[99], reference, CASES, verbose=False)
    assert not crash.passed and "raised IndexError" in crash.message


def test_shape_mismatch_and_none():
    assert "shape (2,), expected (3,)" == first_mismatch([1, 2], [1, 2, 3])
    result = check_function("f", lambda x, scale=1.0: None, reference, CASES, verbose=False)
    assert not result.passed


def test_call_reader_reports_stub_and_crash_without_raising():
    from pgcourse.ui.checks import call_reader

    def stub(x):
        raise NotImplementedError

    assert call_reader("f", lambda x: 2 * x, 3) == (6, None)
    value, failure = call_reader("f", stub, 3, stub="not implemented yet: write f")
    assert value is None and not failure.passed and failure.message == "not implemented yet: write f"
    value, failure = call_reader("f", lambda x: 1 / x, 0)
    assert value is None and failure.message == "f(0) raised ZeroDivisionError: division by zero"


def test_number_prediction_accepts_only_finite_numbers_within_tolerance():
    from pgcourse.ui.checks import check_number_prediction

    def check(value):
        return check_number_prediction("p", lambda: value, 0.5, 0.01, matches="the exact value", hint="think",
                                       verbose=False)

    assert check(0.505).passed and "matches the exact value 0.5" in check(0.505).message
    assert not check(0.52).passed and check(0.52).message.endswith("Hint: think")
    assert "return one number" in check("half").message
    assert "return a finite number" in check(float("nan")).message

    def stub():
        raise NotImplementedError

    assert "return your prediction" in check_number_prediction("p", stub, 0.5, 0.01, matches="m", hint="h",
                                                               verbose=False).message


def _rtg_reference(rew, gamma=1.0):
    out = torch.zeros_like(rew)
    running = torch.zeros_like(rew[:, 0])
    for t in reversed(range(rew.shape[1])):
        running = rew[:, t] + gamma * running
        out[:, t] = running
    return out


RTG_CASES = [((torch.tensor([[1.0, 1.0, 1.0]]),), {}), ((torch.tensor([[1.0, 2.0], [3.0, 4.0]]),), {"gamma": 0.5})]


def test_a_correct_answer_that_writes_into_its_input_passes():
    """issue 23: rew[:, t] += γ rew[:, t+1], in place, is a right reward-to-go; the reference must not see the
    input it changed."""
    def in_place(rew, gamma=1.0):
        for t in reversed(range(rew.shape[1] - 1)):
            rew[:, t] += gamma * rew[:, t + 1]
        return rew

    assert check_function("reward_to_go_loop", in_place, _rtg_reference, RTG_CASES, verbose=False).passed


def test_an_answer_that_corrupts_its_input_fails():
    """A wrong answer that zeroes its input must not make the reference return zeros too."""
    def zeroes(rew, gamma=1.0):
        rew.zero_()
        return rew

    assert not check_function("reward_to_go_loop", zeroes, _rtg_reference, RTG_CASES, verbose=False).passed


@pytest.mark.parametrize("name, check", [
    ("score_wrt_mu", "pgcourse.lessons.nb04_continuous_actions.checks:check_gaussian_score_mu"),
    ("rewards_before_t", "pgcourse.lessons.nb06_causality_reward_to_go.checks:check_past_rewards"),
    ("per_step_mean_baseline", "pgcourse.lessons.nb07_baselines.checks:check_time_mean_baseline"),
])
def test_a_checker_never_passes_a_library_function_of_its_exercises_name(name, check, capsys):
    """Should pgcourse ever export a function of an exercise's name, a checker run before the reader's cell would be
    handed pgcourse's: it fails in one line that says to run the exercise cell (the reader's own passes)."""
    import importlib
    from pgcourse.lessons.nb04_continuous_actions.checks import reference_gaussian_score_mu
    from pgcourse.lessons.nb06_causality_reward_to_go.measure import past_rewards
    from pgcourse.baselines import time_mean_baseline
    right = {"score_wrt_mu": reference_gaussian_score_mu, "rewards_before_t": past_rewards,
             "per_step_mean_baseline": time_mean_baseline}[name]

    def library(*args, **kwargs):
        return right(*args, **kwargs)
    library.__name__, library.__module__ = name, "pgcourse.somewhere"
    check_module, check_name = check.split(":")
    result = getattr(importlib.import_module(check_module), check_name)(library)
    line = capsys.readouterr().out.strip()
    assert not result.passed and "run your exercise cell above" in result.message
    assert line.count("\n") == 0 and name in line

    def yours(*args, **kwargs):   # the same computation, defined by the reader: judged on its values
        return right(*args, **kwargs)
    yours.__name__, yours.__module__ = name, "__main__"
    assert getattr(importlib.import_module(check_module), check_name)(yours).passed


def test_no_exercise_shares_its_name_with_what_a_setup_cell_imports():
    """An exercise's function is never one the notebook's setup cell (or any cell before the exercise) binds:
    until the reader's cell has run, its name is undefined, and the checker says so in one line."""
    import ast
    from pathlib import Path

    import nbformat
    for path in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        bound = set()
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            tree = ast.parse(source)
            if "### BEGIN SOLUTION" in cell.source:
                for node in tree.body:
                    if isinstance(node, ast.FunctionDef):
                        assert node.name not in bound, f"{path.name}: exercise {node.name} clashes with a name bound before it"
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    bound |= {(a.asname or a.name).split(".")[0] for a in node.names}


def test_check_loss_judges_a_right_loss_that_writes_into_its_inputs():
    """A right pseudo-loss that zeroes the padding of its inputs in place passes, in both of check_loss's
    phases (the value, and the gradient into logp); one that writes into the weights it detaches still fails
    for the gradient it sends nowhere else."""
    from pgcourse.estimators import pg_pseudo_loss
    from pgcourse.ui.checks import check_loss

    g = torch.Generator().manual_seed(0)
    logp, weights = -torch.rand(3, 4, generator=g), torch.randn(3, 4, generator=g)
    mask = torch.tensor([[True] * 4, [True, True, False, False], [True, False, False, False]])
    cases = [((logp, weights, mask), {})]
    original = weights.clone()

    def in_place(logp, weights, mask):
        weights.mul_(mask)            # writes into its input
        return -(logp * mask * weights.detach()).sum() / logp.shape[0]

    def forgets_detach(logp, weights, mask):
        weights.mul_(mask)
        return -(logp * mask * weights).sum() / logp.shape[0]

    assert check_loss("pseudo_loss", in_place, pg_pseudo_loss, cases, verbose=False).passed
    result = check_loss("pseudo_loss", forgets_detach, pg_pseudo_loss, cases, verbose=False)
    assert not result.passed and "weights.detach()" in result.message
    assert torch.equal(weights, original)   # the case itself is untouched


def test_a_failure_keeps_its_case_to_rerun_and_prints_big_tensors_as_shapes():
    """issue 23: 'tensor(3, 5)' read like a value, and the failing case could not be called again."""
    big = torch.arange(15.0).reshape(3, 5)
    cases = [((torch.tensor([1.0, 2.0]),), {}), ((big,), {"scale": 2.0})]

    def wrong(x, scale=1.0):   # right on the first case, wrong where the scale matters
        return x * 2.0 if scale == 1.0 else x + scale

    result = check_function("doubled", wrong, lambda x, scale=1.0: x * 2.0 * scale, cases, verbose=False)
    assert not result.passed and "case 2" in result.message
    assert "<tensor of shape (3, 5)>" in result.message and "tensor(3, 5)" not in result.message
    assert "r.rerun(your_function)" in result.message
    args, kwargs = result.case
    assert torch.equal(args[0], big) and kwargs == {"scale": 2.0} and args[0] is not big
    assert torch.equal(result.rerun(wrong), big + 2.0)
    with pytest.raises(ValueError, match="no failing case"):
        check_function("doubled", lambda x, scale=1.0: x * 2.0 * scale, lambda x, scale=1.0: x * 2.0 * scale,
                       cases, verbose=False).rerun(wrong)


PREDICTIONS = [
    ("pgcourse.lessons.nb01_estimating_j.checks:check_fair_corridor_prediction", lambda: 0.123456),
    ("pgcourse.lessons.nb02_log_derivative_trick.checks:check_length_change", lambda c: 7),
    ("pgcourse.lessons.nb03_reinforce.checks:check_leave_one_out_factor", lambda n: 0.123456),
    ("pgcourse.lessons.nb04_continuous_actions.checks:check_sigma_direction", lambda z, r: 7),
    ("pgcourse.lessons.nb05_imitation_and_partial_observability.checks:check_stack_prediction", lambda q: True),
    ("pgcourse.lessons.nb07_baselines.checks:check_parabola_prediction", lambda: 0.123456),
    ("pgcourse.lessons.nb08_off_policy_importance_sampling.checks:check_notes_bias_factor", lambda p: 0.123456),
    ("pgcourse.lessons.nb09_implementing_policy_gradients.checks:check_scaling_prediction",
     lambda c: {"loss": 7.0, "gradient": 7.0, "sgd_step": 7.0, "adam_steps": 7.0}),
    ("pgcourse.lessons.nb10_capstone.checks:check_discount_bias", lambda gamma: 0.123456),
]


@pytest.mark.parametrize("check, wrong", PREDICTIONS, ids=[c.split(":")[1] for c, _ in PREDICTIONS])
def test_a_wrong_prediction_gets_a_hint_never_the_answer(check, wrong, capsys):
    """issue 23: six predict-then-check checkers printed the right value to a wrong guess
    ('leave_one_out_factor(2) returned 0.5, expected 2'). Now a wrong guess gets a hint and may try again."""
    import importlib
    module, name = check.split(":")
    result = getattr(importlib.import_module(module), name)(wrong)
    line = capsys.readouterr().out
    assert not result.passed and "Hint:" in result.message
    assert "expected" not in line


def test_a_checker_called_on_a_name_not_defined_yet_says_so_in_one_line(capfd):
    """issue 23: a course checker run before its exercise cell says, in one line, to run the exercise cell first;
    the cell still ends in an error. Other NameErrors keep their traceback."""
    from IPython.core.interactiveshell import InteractiveShell

    from pgcourse.ui.checks import one_line_for_undefined_exercises

    shell = InteractiveShell.instance()
    try:
        assert one_line_for_undefined_exercises(shell)
        shell.run_cell("from pgcourse.lessons.nb03_reinforce.checks import check_leave_one_out_factor\n"
                       "import subprocess\ndef check_twice(fn):\n    return fn(2) == 4", store_history=True)
        capfd.readouterr()
        result = shell.run_cell("check_leave_one_out_factor(leave_one_out_factor)", store_history=True)
        out = capfd.readouterr().out
        assert not result.success and isinstance(result.error_in_exec, NameError)
        assert out.strip() == ("❌ FAIL leave_one_out_factor: not defined yet: run your exercise cell above "
                               "(without an error), then this check")
        for other in ("undefined_elsewhere + 1", "subprocess.check_output(cmd)", "check_twice(twice)"):
            shell.run_cell(other, store_history=True)   # not a course checker: the usual traceback
            seen = capfd.readouterr()
            assert "NameError" in seen.out + seen.err and "run your exercise cell" not in seen.out, other
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()

# --- diagnoses: each mistake a prompt warns about is named when a reader makes it (pgcourse/ui/mistakes.py) -------

def _diagnosed_checkers():
    from pgcourse.lessons.nb03_reinforce import checks as c03
    from pgcourse.lessons.nb06_causality_reward_to_go import checks as c06
    from pgcourse.lessons.nb07_baselines import checks as c07
    from pgcourse.lessons.nb09_implementing_policy_gradients import checks as c09
    from pgcourse.lessons.nb10_capstone import checks as c10
    from pgcourse.ui import mistakes as m

    def reduction_steps(wrong):  # notebook 09's loss takes reduction=; these mistakes are of reduction="steps"
        return lambda logp, weights, mask, reduction="trajectories": (
            wrong(logp, weights, mask) if reduction == "steps" else c09.pseudo_loss_reference(logp, weights, mask))

    def reduction_trajectories(wrong):
        return lambda logp, weights, mask, reduction="trajectories": (
            wrong(logp, weights, mask) if reduction == "trajectories"
            else c09.pseudo_loss_reference(logp, weights, mask, "steps"))

    return [("06 reward_to_go_loop", c06.check_reward_to_go_loop, m.REWARD_TO_GO, None),
            ("10 my_reward_to_go", c10.check_my_reward_to_go, m.REWARD_TO_GO, None),
            ("03 reinforce_weights", c03.check_reinforce_weights, m.TOTAL_RETURN_WEIGHTS, None),
            ("03 pseudo_loss", c03.check_pseudo_loss, m.PSEUDO_LOSS, None),
            ("10 my_pseudo_loss", c10.check_my_pseudo_loss, m.PSEUDO_LOSS, None),
            ("09 pseudo_loss, trajectories", c09.check_pseudo_loss, m.PSEUDO_LOSS_ANY_PADDING, reduction_trajectories),
            ("09 pseudo_loss, steps", c09.check_pseudo_loss, m.PSEUDO_LOSS_STEPS, reduction_steps),
            ("09 notes_pg_loss", c09.check_notes_pg_loss, m.NOTES_LOSS, None),
            ("07 time_mean_baseline", c07.check_time_mean_baseline, m.MEAN_BASELINE, None),
            ("10 my_mean_baseline", c10.check_my_mean_baseline, m.MEAN_BASELINE, None),
            ("10 normalised_advantages", c10.check_normalised_advantages, m.NORMALISED, None)]


def _as_reader(wrong, wrap):
    base = wrong if wrap is None else wrap(wrong)

    def fn(*args, **kwargs):  # the reader's function: a function of theirs, not pgcourse's
        return base(*args, **kwargs)
    return fn


def _run_check(check, fn):
    return check(fn, verbose=False) if "verbose" in inspect.signature(check).parameters else check(fn)


@pytest.mark.parametrize("label, check, catalogue, wrap", _diagnosed_checkers(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_mistake_of_a_checker_is_caught_and_named(label, check, catalogue, wrap):
    """A reader whose function IS one of the mistakes fails and is told a mistake that gives exactly what they
    returned on the kept failing case (the mistake itself, or one the case cannot tell from it), never only numbers."""
    from pgcourse.ui.checks import _same

    for why, wrong in catalogue:
        fn = _as_reader(wrong, wrap)
        result = _run_check(check, fn)
        assert not result.passed, (label, why)
        assert result.case is not None and result.message.startswith("case "), result.message
        named = [w for w, _ in catalogue if w in result.message]
        assert named, (label, why, result.message)
        got = result.rerun(fn)
        assert any(_same(got, result.rerun(_as_reader(other, wrap)), 1e-5, 1e-5)
                   for w, other in catalogue if w == named[0]), (label, why, result.message)


def test_every_mistake_is_named_by_itself_somewhere():
    """Each mistake of each catalogue is the one named, for the reader who makes it, by at least one checker."""
    seen = set()
    for label, check, catalogue, wrap in _diagnosed_checkers():
        for why, wrong in catalogue:
            if why in _run_check(check, _as_reader(wrong, wrap)).message:
                seen.add(why)
    from pgcourse.ui import mistakes as m
    every = {why for catalogue in (m.REWARD_TO_GO, m.PSEUDO_LOSS_ANY_PADDING, m.PSEUDO_LOSS_STEPS, m.TOTAL_RETURN_WEIGHTS,
                                   m.MEAN_BASELINE, m.NORMALISED, m.NOTES_LOSS) for why, _ in catalogue}
    assert every - seen == set()


def test_a_wrong_answer_that_is_no_known_mistake_gets_numbers_only():
    from pgcourse.lessons.nb06_causality_reward_to_go.checks import check_reward_to_go_loop
    from pgcourse.returns import reward_to_go

    def reward_to_go_loop(rew, mask=None, gamma=1.0):
        return reward_to_go(rew, mask, gamma) + 0.5
    result = check_reward_to_go_loop(reward_to_go_loop, verbose=False)
    assert not result.passed and result.message.startswith("case 1: reward_to_go_loop(")


def _rtg_backward_store_then_add(rew, mask=None, gamma=1.0):   # Q_t = γ Q_{t+1} without r_t: starts at t + 1
    rew = rew if mask is None else torch.where(mask, rew, torch.zeros(()))
    out, running = torch.zeros_like(rew), torch.zeros(rew.shape[0])
    for t in reversed(range(rew.shape[1])):
        out[:, t] = running
        running = gamma * (running + rew[:, t])
    return out if mask is None else torch.where(mask, out, torch.zeros(()))


def _rtg_gamma_from_start(rew, mask=None, gamma=1.0):   # Σ_{t'≥t} γ^{t'} r_{t'}
    rew = rew if mask is None else torch.where(mask, rew, torch.zeros(()))
    discounted = rew * gamma ** torch.arange(rew.shape[1], dtype=rew.dtype)
    out = discounted.flip(1).cumsum(1).flip(1)
    return out if mask is None else torch.where(mask, out, torch.zeros(()))


def _rtg_forward_cumsum(rew, mask=None, gamma=1.0):      # the sum of the past, up to t
    rew = rew if mask is None else torch.where(mask, rew, torch.zeros(()))
    weights = gamma ** (torch.arange(rew.shape[1])[:, None] - torch.arange(rew.shape[1])[None, :]).clamp(min=0)
    out = rew @ torch.tril(weights.to(rew.dtype)).T
    return out if mask is None else torch.where(mask, out, torch.zeros(()))


def _loss_log_softmax_no_minus(logits, actions, q_values):
    logp = torch.log_softmax(logits, -1).gather(1, actions[:, None])      # (M, 1): + log π, the minus forgotten
    return (logp * q_values).mean()


def _loss_times_mask(logp, weights, mask, reduction="trajectories"):
    d = logp.shape[0] if reduction == "trajectories" else mask.sum()
    return -(logp * weights.detach() * mask).sum() / d


@pytest.mark.parametrize("check_path, fn, said", [
    ("nb10_capstone:check_my_reward_to_go", _rtg_backward_store_then_add, "your sum starts at t + 1"),
    ("nb06_causality_reward_to_go:check_reward_to_go_loop", _rtg_gamma_from_start, "discounts by γ^{t'}, from the episode's start"),
    ("nb06_causality_reward_to_go:check_reward_to_go_loop", _rtg_forward_cumsum, "you summed the rewards up to t"),
    ("nb09_implementing_policy_gradients:check_notes_pg_loss", _loss_log_softmax_no_minus, "the sign is flipped"),
    ("nb09_implementing_policy_gradients:check_pseudo_loss", _loss_times_mask, "−inf · 0 = NaN"),
], ids=["store then add", "γ^t' from the start", "forward cumsum", "log_softmax without minus", "times the mask"])
def test_a_readers_own_wrong_code_is_told_its_mistake(check_path, fn, said):
    """Mistakes written as a reader writes them (loops, cumsums, gathers), not as the catalogue writes them."""
    import importlib
    module, name = check_path.split(":")
    check = getattr(importlib.import_module(f"pgcourse.lessons.{module}.checks"), name)
    result = check(fn, verbose=False)
    assert not result.passed and said in result.message, result.message


def test_no_mistake_is_named_from_one_case_a_mistake_only_matches_by_accident():
    """A function that returns zeros matches 'the sum starts at t + 1' on a 1×1 case with γ = 1, and no other case:
    it gets numbers, not a diagnosis. So does one that skips t = 0 in its loop."""
    from pgcourse.lessons.nb10_capstone.checks import check_my_reward_to_go
    from pgcourse.ui.mistakes import REWARD_TO_GO

    def zeros(rew, mask=None, gamma=1.0):
        return torch.zeros_like(rew)

    def skips_the_first_step(rew, mask=None, gamma=1.0):
        rew = rew if mask is None else torch.where(mask, rew, torch.zeros(()))
        out = rew.clone()
        for t in range(rew.shape[1] - 2, 0, -1):
            out[:, t] += gamma * out[:, t + 1]
        return out if mask is None else torch.where(mask, out, torch.zeros(()))
    for fn in (zeros, skips_the_first_step):
        result = check_my_reward_to_go(fn, verbose=False)
        assert not result.passed and not any(why in result.message for why, _ in REWARD_TO_GO), result.message
