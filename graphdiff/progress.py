"""Progress of long work, on stderr: one bar that counts the unit of work that actually takes
the time (reverse steps of sampling, not finished graphs; items a metric or a database build
works through), with an ETA.

:class:`StepProgress` serves sampling; :func:`track` wraps any loop over items, and is what a
plugin's metric uses when ``graphdiff evaluate`` passes it ``progress=True`` (see
docs/writing-a-plugin.md). Every bar is off under ``--quiet`` (``enabled=False``).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, TypeVar

__all__ = ["StepProgress", "track"]

T = TypeVar("T")


def track(items: Iterable[T], *, desc: str, total: int | None = None, unit: str = "item",
          enabled: bool = True) -> Iterator[T]:
    """Yield ``items`` while a bar on stderr counts them (with an ETA when the total is known).

    Parameters
    ----------
    items:
        What the loop works through.
    desc:
        The bar's label (say what is being done: ``"crystals-csp: matching"``).
    total:
        How many items (default: ``len(items)`` where it has one).
    unit:
        What one item is, for the rate (``"structure"``).
    enabled:
        ``False``: no bar, the items as they are (``--quiet``; a metric's ``progress=False``).
    """
    if not enabled:
        yield from items
        return
    from tqdm.auto import tqdm

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = tqdm(items, total=total, desc=desc, unit=unit, dynamic_ncols=True)
    try:
        yield from bar
    finally:
        bar.close()


class StepProgress:
    """A bar over ``total`` reverse steps, shared by every chunk of one sampling run.

    Pass the instance as the ``progress`` of :meth:`graphdiff.diffusion.GraphDiffusion.sample`
    (or ``step_progress`` of :func:`graphdiff.runner.sample_graphs`): it wraps each chunk's loop
    of reverse steps and advances one per step, so the bar moves from the first step and its
    ETA is a real one. ``total`` may grow (:meth:`add`) when the amount of work is only known as
    it goes (distinct candidates draw again for inputs with too few answers).

    Parameters
    ----------
    total:
        Reverse steps expected in all (chunks x steps).
    desc:
        The bar's label.
    enabled:
        ``False``: count silently (``quiet``).
    """

    def __init__(self, total: int, desc: str = "sample", enabled: bool = True) -> None:
        self.total = int(total)
        self.done = 0
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit="step", dynamic_ncols=True)

    def __call__(self, steps: Iterable[int]) -> Iterator[int]:
        for i in steps:
            yield i
            self.done += 1
            if self._bar is not None:
                self._bar.update(1)

    def add(self, steps: int) -> None:
        """Expect ``steps`` more reverse steps."""
        self.total += int(steps)
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def set_postfix(self, **values: Any) -> None:
        if self._bar is not None:
            self._bar.set_postfix(**values)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
