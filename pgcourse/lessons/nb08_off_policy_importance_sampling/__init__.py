"""Lesson of notebooks/08_off_policy_importance_sampling.ipynb (08 · Off-policy policy gradients and importance sampling).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
