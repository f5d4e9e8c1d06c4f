"""Progress bars for long loops (the bootstrap): tqdm when it is installed.

``tqdm.auto`` draws a widget in notebooks and a text bar in terminals.  Without
tqdm a one-line text bar on stderr serves.  ``enabled=None`` shows the bar
where someone is watching: stderr is a terminal, or the code runs in a
notebook kernel.
"""

from __future__ import annotations

import sys
import time


def progress_bar(total: int, description: str, enabled: bool | None = None):
    """An object with ``update(done)`` (cumulative count) and ``close()``.

    Examples
    --------
    >>> bar = progress_bar(3, "demo", enabled=False)
    >>> bar.update(3); bar.close()
    """
    show = _watched() if enabled is None else bool(enabled)
    if not show:
        return _Silent()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextBar(total, description)
    return _Tqdm(tqdm(total=total, desc=description, leave=True))


class _Silent:
    def update(self, done: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Tqdm:
    def __init__(self, bar):
        self.bar = bar

    def update(self, done: int) -> None:
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class _TextBar:
    """A one-line text bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, description: str):
        self.total, self.description = total, description
        self.start = time.perf_counter()
        self.shown = 0.0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if done < self.total and now - self.shown < 0.1:
            return
        self.shown = now
        elapsed = now - self.start
        left = elapsed / max(done, 1) * (self.total - done)
        bar = "#" * (30 * done // self.total)
        sys.stderr.write(f"\r{self.description} [{bar:<30}] {done}/{self.total}  "
                         f"{elapsed:.1f} s, {left:.1f} s left ")
        if done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def close(self) -> None:
        pass


def _watched() -> bool:
    try:
        if sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    shell = sys.modules.get("IPython")
    ipython = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ipython is not None and hasattr(ipython, "kernel")
