"""pgcourse.ui.pieces: the reader's pieces trained beside pgcourse's, on the same seeds (notebooks 06, 07, 09, 10)."""

import functools

import matplotlib
import numpy as np
import pytest
import torch

from helpers import assert_same_history, not_implemented
from pgcourse import TrainConfig
from pgcourse.baselines import time_mean_baseline
from pgcourse.estimators import pg_pseudo_loss
from pgcourse.history import History
from pgcourse.returns import reward_to_go
from pgcourse.seeds import train_seeds
from pgcourse.stats import bootstrap_interval
from pgcourse.ui.checks import CheckResult
from pgcourse.ui.pieces import PIECES, PieceRun, piece_name, same_episodes, same_run, train_with_pieces

SMALL = TrainConfig(max_env_steps=1_500, target_return=475)
SEEDS = [0, 1, 2]


def check_rtg(fn, verbose=True):
    """A checker in the shape of the lessons' (verbose keyword): compares with reward_to_go on one case."""
    rew = torch.tensor([[1.0, 1.0, 1.0]])
    ok = torch.allclose(fn(rew, None, 0.5), reward_to_go(rew, None, 0.5))
    if verbose:
        print("PASS" if ok else "FAIL")
    return CheckResult("reward_to_go_loop", ok, "all cases match" if ok else "case 1: returned 0.75, expected 1.5")


def check_without_verbose(fn):
    """A checker without the verbose keyword (as notebook 07's): it prints, and train_with_pieces silences it."""
    print("✅ PASS time_mean_baseline: chatty")
    return CheckResult("time_mean_baseline", True, "all cases match")


def rtg_from_start(rew, mask=None, gamma=1.0):
    """A plausible mistake: the loop runs forward, Σ_{t'≤t} γ^{t−t'} r_{t'}."""
    out, running = torch.zeros_like(rew), torch.zeros_like(rew[:, 0])
    for t in range(rew.shape[1]):
        running = rew[:, t] + gamma * running
        out[:, t] = running
    return out if mask is None else torch.where(mask, out, torch.zeros(()))


@pytest.fixture(scope="module")
def reference():
    return train_seeds(SMALL, SEEDS)


def test_pgcourse_pieces_reproduce_pgcourse_run_exactly(reference, capsys):
    """The reference pieces through PieceWeights: the same histories and policies as train_seeds' own run."""
    ref_policies, ref_histories = reference
    run = train_with_pieces(SMALL, SEEDS, rtg_fn=reward_to_go, baseline_fn=time_mean_baseline, loss_fn=pg_pseudo_loss,
                            check={"rtg_fn": check_rtg})
    assert capsys.readouterr().out == ""                       # a passing check prints nothing
    for a, b in zip(run.reference, ref_histories):
        assert_same_history(a, b)
    for a, b in zip(run.reader, ref_histories):
        assert_same_history(a, b)
    assert run.same and all(run.same_episodes) and run.verdict() == "the same run"
    assert run.summary().startswith("your reward_to_go + time_mean_baseline + pg_pseudo_loss: the same run as "
                                    f"pgcourse's, seed for seed (3 seeds × at most {SMALL.iterations} iterations "
                                    "and 1.5k env steps")
    assert "interval" not in run.summary()                     # no degenerate [0, 0] interval
    assert run.difference == (0.0, 0.0, 0.0)
    assert same_run(run.reader, ref_histories, run.reader_policies, ref_policies)


def test_a_piece_that_writes_into_its_inputs_cannot_corrupt_the_batch(reference):
    """The reader's pieces get copies: zeroing rew in place after computing Q̂ changes nothing."""
    def rtg_then_scribble(rew, mask=None, gamma=1.0):
        out = reward_to_go(rew, mask, gamma)
        rew.zero_()
        return out

    run = train_with_pieces(SMALL, SEEDS, rtg_fn=rtg_then_scribble)
    assert run.same
    for a, b in zip(run.reader, reference[1]):
        assert_same_history(a, b)


def test_a_stub_falls_back_to_pgcourse_piece_with_a_note(reference, monkeypatch, capsys):
    calls = []
    import pgcourse.ui.pieces as pieces
    real = pieces.train_seeds
    monkeypatch.setattr(pieces, "train_seeds", lambda *a, **k: calls.append(k.get("weighting")) or real(*a, **k))
    run = train_with_pieces(SMALL, SEEDS, rtg_fn=not_implemented, check=check_rtg)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "your not_implemented is not written yet" in out and "reward_to_go" in out
    assert "fails its check" not in out                        # the note, not a second line
    assert len(calls) == 1 and calls[0] is None                # only pgcourse's run is trained
    assert run.fallback and run.reader is run.reference
    assert run.summary().startswith("pgcourse's run only (your not_implemented is not written yet)")
    for a, b in zip(run.reference, reference[1]):
        assert_same_history(a, b)
    ax = run.plot()
    assert len(ax.get_legend().get_texts()) == 1               # one band: pgcourse's
    matplotlib.pyplot.close("all")


def test_a_stub_among_written_pieces_keeps_the_others(reference, capsys):
    """Capstone use: one stub falls back, the written piece still trains (here pgcourse's own: the same run)."""
    run = train_with_pieces(SMALL, SEEDS, rtg_fn=not_implemented, loss_fn=pg_pseudo_loss)
    assert "not written yet" in capsys.readouterr().out
    assert not run.fallback and run.same and run.label == "your pg_pseudo_loss"


def test_a_failing_check_names_the_piece_and_trains_with_it(capsys):
    run = train_with_pieces(SMALL, SEEDS, rtg_fn=rtg_from_start, check=check_rtg)
    out = capsys.readouterr().out
    assert out == ("your rtg_from_start fails its check: case 1: returned 0.75, expected 1.5; this run uses it "
                   "anyway — watch what it does to learning\n")
    assert run.reader is not None and not run.same
    assert run.summary().startswith("your rtg_from_start: final return")
    # Σ_{t'≤t} r_{t'} = t for every CartPole episode still running at t: b_t removes it, every weight is 0
    assert all(g == 0.0 for h in run.reader for g in h.grad_norm[:-1])


def test_a_checker_without_verbose_is_silenced(capsys):
    run = train_with_pieces(SMALL, [0, 1], baseline_fn=time_mean_baseline, check=check_without_verbose)
    assert capsys.readouterr().out == "" and run.same


def test_a_piece_that_raises_is_reported_not_raised(capsys):
    def broken(rew, mask=None, gamma=1.0):
        raise ValueError("shapes do not match")

    run = train_with_pieces(SMALL, SEEDS, rtg_fn=broken)
    assert capsys.readouterr().out.startswith("your broken raised ValueError: shapes do not match; there is no run")
    assert run.reader is None and run.difference is None and run.verdict() == "no run"
    assert "no run" in run.summary()
    run.plot()
    matplotlib.pyplot.close("all")

    def breaks_on_long_batches(rew, mask=None, gamma=1.0):      # passes the small probe, fails in training
        if rew.shape[1] > 5:
            raise RuntimeError("index out of range")
        return reward_to_go(rew, mask, gamma)

    run = train_with_pieces(SMALL, SEEDS, rtg_fn=breaks_on_long_batches)
    assert "raised RuntimeError during training: index out of range" in capsys.readouterr().out
    assert run.reader is None


def test_pieces_are_named_through_partial():
    def pseudo_loss(logp, weights, mask, reduction="trajectories"):
        return pg_pseudo_loss(logp, weights, mask)

    assert piece_name(functools.partial(pseudo_loss, reduction="trajectories")) == "pseudo_loss"
    assert piece_name(reward_to_go) == "reward_to_go"


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="at least one of your pieces"):
        train_with_pieces(SMALL, SEEDS)
    with pytest.raises(ValueError, match="at least 2"):
        train_with_pieces(SMALL, [0], rtg_fn=reward_to_go)
    with pytest.raises(ValueError, match="dict"):
        train_with_pieces(SMALL, SEEDS, rtg_fn=reward_to_go, loss_fn=pg_pseudo_loss, check=check_rtg)
    with pytest.raises(ValueError, match="not given"):
        train_with_pieces(SMALL, SEEDS, rtg_fn=reward_to_go, check={"loss_fn": check_rtg})


# ---------------------------------------------------------------- the statistics, on made-up runs

def _history(first: float, final: float, steps: int = 1000) -> History:
    h = History()
    h.append(iteration=0, mean_return=first, stderr_return=0.0, recent_return=first, env_steps=steps // 2,
             wall_s=0.0, loss=0.0, grad_norm=1.0, entropy=0.6)
    h.append(iteration=1, mean_return=final, stderr_return=0.0, recent_return=final, env_steps=steps,
             wall_s=0.0, loss=0.0, grad_norm=1.0, entropy=0.5)
    return h


def _run(ref_final, reader_final, reader_first=None):
    reader_first = [20.0] * len(reader_final) if reader_first is None else reader_first
    reference = [_history(20.0, f) for f in ref_final]
    reader = [_history(s, f) for s, f in zip(reader_first, reader_final)]
    run = PieceRun("your piece", SMALL, list(range(len(ref_final))), reference, reader)
    run.same_episodes = [same_episodes(a, b) for a, b in zip(reference, reader)]
    return run


def test_the_difference_is_the_median_of_paired_differences_with_its_bootstrap_interval():
    ref = np.array([400.0, 300, 450, 200, 380, 420, 390, 310, 470, 260])
    yours = ref + np.array([-50.0, 10, -80, -20, -60, -40, 5, -90, -30, -70])
    run = _run(ref, yours)
    diff, lo, hi = run.difference
    assert diff == np.median(yours - ref) == -45.0
    assert (lo, hi) == bootstrap_interval(yours - ref)          # paired by seed, not two independent medians
    assert hi < 0 and run.verdict() == "learns worse"
    assert "yours learns worse" in run.summary() and "median -45" in run.summary()
    assert "sampled exactly" not in run.summary()


def test_the_verdicts():
    ref = [400.0, 300, 450, 200, 380, 420, 390, 310, 470, 260]
    assert _run(ref, [r + 30 + k for k, r in enumerate(ref)]).verdict() == "learns better"
    mixed = _run(ref, [r + (20 if k % 2 else -20) for k, r in enumerate(ref)])
    assert mixed.verdict() == "no difference detected"
    stuck = _run(ref, [22.0, 19, 25, 21, 23, 20, 24, 18, 22, 21], reader_first=[21.0, 20, 24, 22, 22, 21, 23, 19, 21, 22])
    assert stuck.verdict() == "does not learn" and "no higher than its first batch's" in stuck.summary()
    worse = _run(ref, [9.0] * 10, reader_first=[22.0] * 10)
    assert worse.verdict() == "does not learn" and "is below its first batch's" in worse.summary()
    same = _run(ref, ref)
    assert sum(same.same_episodes) == 10 and "10 of which sampled exactly pgcourse's episodes" in same.summary()


def test_same_run_compares_every_column_and_the_policies():
    a, b = _history(20, 400), _history(20, 400)
    assert same_run([a], [b])
    b.loss[1] = 1e-9
    assert not same_run([a], [b]) and same_episodes(a, b)       # the same episodes, not the same run
    p, q = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    assert not same_run([a], [a], [p], [q]) and same_run([a], [a], [p], [p])
    assert not same_run([a], [a, a])


def test_plot_draws_both_bands():
    ref = [400.0, 300, 450]
    run = _run(ref, [100.0, 50, 80])
    ax = run.plot()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "pgcourse's pieces (median of 3 seeds)", "your piece (median of 3 seeds)"]
    assert ax.get_xlabel() == "environment steps"
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("overrides, piece, says", [
    (dict(weights="total_return"), "rtg_fn", "weights='reward_to_go'"),
    (dict(baseline="value"), "baseline_fn", "baseline='mean'"),
    (dict(steps_per_batch=2), "loss_fn", "steps_per_batch=1"),
])
def test_a_piece_the_config_would_not_use_is_refused(overrides, piece, says):
    """A run is never labelled with a piece it did not use (the reviewer's case: notebook 10 lets the reader pick
    the configuration)."""
    config = TrainConfig(**{**dict(iterations=2, n_traj=4), **overrides})
    with pytest.raises(ValueError, match=f"would not use your {piece}: .*{says}"):
        train_with_pieces(config, [0, 1], **{piece: PIECES[piece]})
