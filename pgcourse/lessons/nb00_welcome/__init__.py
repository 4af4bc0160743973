"""Lesson of notebooks/00_welcome.ipynb (00 · Welcome).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
"""
