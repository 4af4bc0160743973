"""Lesson of notebooks/01_estimating_J.ipynb (01 · Estimating J(θ) by sampling).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
