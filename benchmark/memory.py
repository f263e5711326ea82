"""Peak memory of running process trees, for the benchmark scripts (psutil only: no torch)."""

from __future__ import annotations

import threading

import psutil


class TreeMemory:
    """Peak summed RSS of some processes and all their descendants, sampled in a background thread."""

    def __init__(self, *pids: int, interval: float = 0.5):
        self.roots, self.interval, self.peak = [psutil.Process(pid) for pid in pids], interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:  # this root has ended
                    continue
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20
