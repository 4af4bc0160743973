"""Returns and reward-to-go against values computed by hand."""

import pytest
import torch

from pgcourse import reward_to_go, total_return


def test_three_step_trajectory_gamma_09_by_hand():
    rew = torch.tensor([[1.0, 2.0, 3.0]])
    # R = 1 + 0.9·2 + 0.81·3 = 5.23
    assert total_return(rew, gamma=0.9).item() == pytest.approx(5.23, abs=1e-6)
    # Q̂_3 = 3, Q̂_2 = 2 + 0.9·3 = 4.7, Q̂_1 = 1 + 0.9·4.7 = 5.23
    assert torch.allclose(reward_to_go(rew, gamma=0.9), torch.tensor([[5.23, 4.7, 3.0]]))


def test_undiscounted_and_docstring_example():
    rew = torch.tensor([[1.0, 1.0, 1.0]])
    assert torch.equal(reward_to_go(rew), torch.tensor([[3.0, 2.0, 1.0]]))
    assert torch.allclose(reward_to_go(rew, gamma=0.5), torch.tensor([[1.75, 1.5, 1.0]]))
    assert total_return(rew).item() == 3.0


def test_masked_steps_contribute_nothing():
    rew = torch.tensor([[1.0, 2.0, 3.0, 100.0], [5.0, 7.0, -50.0, 9.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    assert torch.allclose(total_return(rew, mask, gamma=0.9), torch.tensor([5.23, 5.0 + 0.9 * 7.0]))
    rtg = reward_to_go(rew, mask, gamma=0.9)
    assert torch.allclose(rtg, torch.tensor([[5.23, 4.7, 3.0, 0.0], [11.3, 7.0, 0.0, 0.0]]))


def test_gamma_zero_is_immediate_reward():
    rew = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.equal(reward_to_go(rew, gamma=0.0), rew)
    assert total_return(rew, gamma=0.0).item() == 1.0


def test_reward_to_go_first_column_is_total_return():
    g = torch.Generator().manual_seed(0)
    rew = torch.randn(7, 13, generator=g, dtype=torch.float64)
    mask = torch.arange(13)[None, :] < torch.randint(1, 14, (7, 1), generator=g)
    for gamma in (1.0, 0.97, 0.3):
        assert torch.allclose(reward_to_go(rew, mask, gamma)[:, 0], total_return(rew, mask, gamma))


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan")])
def test_bad_gamma_is_a_clear_error(gamma):
    with pytest.raises(ValueError, match=r"gamma must be (a finite number )?in \[0, 1\]"):
        reward_to_go(torch.ones(1, 3), gamma=gamma)


def test_mask_shape_mismatch():
    with pytest.raises(ValueError, match="mask must have the shape"):
        total_return(torch.ones(2, 3), torch.ones(2, 4, dtype=torch.bool))


def test_cached_discount_matrix_gives_the_freshly_built_numbers():
    """reward_to_go slices one cached γ^{t'−t} matrix; every horizon must get exactly the matrix it
    would build itself (also after the cache grows, and beyond the cache's size)."""
    from pgcourse.returns import _LAG_CACHE_MAX, _build_lag_discounts, _lag_discounts

    gen = torch.Generator().manual_seed(0)
    for horizon in (3, 600, 7, 1500, _LAG_CACHE_MAX + 5):
        for dtype in (torch.float32, torch.float64):
            assert torch.equal(_lag_discounts(horizon, 0.995, dtype), _build_lag_discounts(horizon, 0.995, dtype))
        rew = torch.rand((2, horizon), generator=gen)
        assert torch.equal(reward_to_go(rew, gamma=0.995), rew @ _build_lag_discounts(horizon, 0.995, rew.dtype))
