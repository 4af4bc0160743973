"""The notebooks' shared machinery: ``panel`` (the one interactive component, sliders → compute →
figure), ``checks`` (the exercise checkers' comparison and one-line report) and ``pieces`` (the reader's
own reward-to-go, baseline or pseudo-loss trained beside pgcourse's, notebooks 06, 07, 09 and 10).

ui imports the core and the K-seed engine (pgcourse.seeds); every lesson's panel.py and checks.py build
on it. See ARCHITECTURE.md.
"""
