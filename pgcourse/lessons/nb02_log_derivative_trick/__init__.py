"""Lesson of notebooks/02_log_derivative_trick.ipynb (02 · The log-derivative trick).

- ``checks``: its exercise checkers
- ``measure``: its measurements and experiments
- ``panel``: its interactive panel
"""
