"""Progress of long work, on stderr: one bar that counts the unit of work that actually takes
the time (reverse steps of sampling, not finished graphs), with an ETA."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

__all__ = ["StepProgress"]


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
