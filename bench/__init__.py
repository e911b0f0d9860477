"""Switchboard's load-test harness and side-by-side benchmarks (``python -m bench``).

Never run by ``make test``; its own smoke test is tests/bench/.
"""
