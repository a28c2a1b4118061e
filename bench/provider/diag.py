"""Diagnostics knob of ``bench/provider.ts`` (env ``BENCH_DIAG_DIR``; never on for reported
figures): in each Python side that imports ``agent.py``, records

* garbage-collection pauses (``gc.callbacks``): count, total and longest per generation;
* GIL starvation as another thread sees it: a daemon thread sleeping 50 ms and measuring how
  late it wakes (what the heartbeat's control thread suffers too);
* the longest ``FrameBatch.flush`` and ``FrameWriter.write_raw`` off the loop thread (the
  control thread flushes batched frames when the loop lags);

and writes a JSON line of the totals so far to ``<dir>/<pid>.diag.jsonl`` every second.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time


def install(directory: str) -> None:
    stats: dict[str, object] = {'pid': os.getpid()}
    gc_count = [0, 0, 0]
    gc_total = [0.0, 0.0, 0.0]
    gc_max = [0.0, 0.0, 0.0]
    started = [0.0]
    late = {'max_ms': 0.0, 'over_1s': 0, 'over_100ms': 0}
    offloop = {'flush_max_ms': 0.0, 'write_max_ms': 0.0}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == 'start':
            started[0] = time.perf_counter()
            return
        gen = info['generation']
        pause = (time.perf_counter() - started[0]) * 1000
        gc_count[gen] += 1
        gc_total[gen] += pause
        gc_max[gen] = max(gc_max[gen], pause)

    gc.callbacks.append(on_gc)

    main = threading.main_thread().ident
    try:
        from synapse_bridge import _framing
    except ImportError:  # the in-process floor without the bridge on the path
        _framing = None
    if _framing is not None:
        flush0 = _framing.FrameBatch.flush
        write0 = _framing.FrameWriter.write_raw

        def flush(self, *, blocking: bool = True) -> None:  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                flush0(self, blocking=blocking)
            finally:
                if threading.get_ident() != main:
                    offloop['flush_max_ms'] = max(offloop['flush_max_ms'], (time.perf_counter() - t) * 1000)

        def write_raw(self, data: bytes) -> None:  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                write0(self, data)
            finally:
                if threading.get_ident() != main:
                    offloop['write_max_ms'] = max(offloop['write_max_ms'], (time.perf_counter() - t) * 1000)

        _framing.FrameBatch.flush = flush  # type: ignore[method-assign]
        _framing.FrameWriter.write_raw = write_raw  # type: ignore[method-assign]

    path = os.path.join(directory, f'{os.getpid()}.diag.jsonl')

    def watch() -> None:
        last_dump = time.monotonic()
        while True:
            t = time.monotonic()
            time.sleep(0.05)
            over = (time.monotonic() - t - 0.05) * 1000
            late['max_ms'] = max(late['max_ms'], over)
            late['over_100ms'] += over > 100
            late['over_1s'] += over > 1000
            now = time.monotonic()
            if now - last_dump >= 1:
                last_dump = now
                stats.update(
                    t=time.time(),
                    gc_count=gc_count,
                    gc_total_ms=[round(x, 1) for x in gc_total],
                    gc_max_ms=[round(x, 1) for x in gc_max],
                    gc_objects=len(gc.get_objects(2)) if False else None,
                    late=late,
                    offloop=offloop,
                    threshold=gc.get_threshold(),
                    frozen=gc.get_freeze_count(),
                )
                with open(path, 'a') as fh:
                    fh.write(json.dumps(stats) + '\n')

    threading.Thread(target=watch, name='bench-diag', daemon=True).start()
