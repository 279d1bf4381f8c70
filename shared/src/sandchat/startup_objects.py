"""Keeping the garbage collector's full passes short in a long-running service.

A service holds about 100,000 objects once it has started (modules, classes, functions, the app),
and CPython's full collection walks all of them every time it runs: a pause of tens to hundreds of
milliseconds paid by every chat of that process at once (docs/performance.md, "500 chats on a quiet machine").
None of them will ever be garbage.
:func:`freeze_startup_objects` collects once, then moves every object alive at that moment to the
permanent generation (:func:`gc.freeze`), so later passes walk only what the service made since.
Every service calls it at the end of its start-up, right before it serves.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()
