"""One folder per notebook: ``pgcourse/lessons/nbNN_topic/`` belongs to ``notebooks/NN_topic.ipynb``.

A folder holds what only its notebook uses: ``measure.py`` (the notebook's measurements and
experiments; notebook 05, with two topics, has ``imitation.py`` and ``partial_observability.py``),
``panel.py`` (its interactive panel; notebook 00 has none) and ``checks.py`` (its exercise
checkers), and is tested by ``tests/test_nbNN_topic.py``. A lesson imports the core (``pgcourse.*``), ``pgcourse.ui``
and its own folder, never another lesson: code two lessons need moves down into the core.
See ARCHITECTURE.md; tests/test_layout.py enforces the rule.
"""
