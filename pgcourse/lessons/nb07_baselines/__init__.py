"""Lesson of notebooks/07_baselines.ipynb (07 · Baselines).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
