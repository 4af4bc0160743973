"""Lesson of notebooks/04_continuous_actions.ipynb (04 · Continuous actions: Gaussian policies).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
