"""Lesson of notebooks/10_capstone.ipynb (10 · Capstone: REINFORCE, assembled).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
