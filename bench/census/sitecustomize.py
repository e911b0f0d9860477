"""What the garbage collector tracks inside a running node, by type.

Not a module to import: put this directory first on PYTHONPATH and Python
runs it at start-up in every process of a bench run. In the node's process
(``switchboard serve``) it appends, every 60 s, one JSON line to
``$CENSUS_OUT.<pid>``: the tracked objects by type (top 40), per
generation, frozen, and the collector's own statistics.

    CENSUS_OUT=/tmp/census PYTHONPATH=bench/census:. \\
        .venv/bin/python -m bench soak --agents 1000 --queues 50 --rates 50 --duration 300 --churn 5 --no-plot

The census itself holds the interpreter ~100 ms per sample at 1,000 agents:
read its run's latencies with that in mind.
"""

import gc
import json
import os
import sys
import threading
import time
from collections import Counter

OUT = os.environ.get("CENSUS_OUT")


def _census() -> None:
    time.sleep(5)
    if "serve" not in sys.argv:
        return  # the bench's own processes
    while True:
        time.sleep(60)
        objects = gc.get_objects()
        by_type = Counter(type(o).__qualname__ for o in objects)
        del objects
        line = {
            "t": time.time(),
            "tracked": sum(by_type.values()),
            "per_generation": [len(gc.get_objects(g)) for g in range(3)],
            "frozen": gc.get_freeze_count(),
            "stats": gc.get_stats(),
            "top": by_type.most_common(40),
        }
        with open(f"{OUT}.{os.getpid()}", "a") as f:
            f.write(json.dumps(line) + "\n")


if OUT:
    threading.Thread(target=_census, daemon=True, name="gc-census").start()
