"""Lesson of notebooks/06_causality_reward_to_go.ipynb (06 · Causality and reward-to-go).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
