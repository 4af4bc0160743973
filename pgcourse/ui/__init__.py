"""The notebooks' shared machinery: ``panel`` (the one interactive component, sliders → compute →
figure) and ``checks`` (the exercise checkers' comparison and one-line report).

ui imports only the core; every lesson's panel.py and checks.py build on it. See ARCHITECTURE.md.
"""
