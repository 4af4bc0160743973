"""Lesson of notebooks/05_imitation_and_partial_observability.ipynb (05 · Imitation and partial observability).

- ``checks``: its exercise checkers
- ``imitation``: behaviour cloning against the policy gradient
- ``panel``: its interactive panel
- ``partial_observability``: partially observed CartPole and tabular MDPs (the environments themselves are in pgcourse.envs)
"""
