"""Lesson of notebooks/09_implementing_policy_gradients.ipynb (09 · Implementing policy gradients).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
