"""The conversation core: rules only, no I/O, no clock reads, no randomness.

Callers pass the time (``now``, ms since epoch) and fresh ids in; the core
returns new values and never mutates its inputs."""
