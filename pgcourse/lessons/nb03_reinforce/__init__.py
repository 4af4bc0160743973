"""Lesson of notebooks/03_reinforce.ipynb (03 · REINFORCE).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
