"""Batch iteration with an optional tqdm progress bar."""

from __future__ import annotations

from collections.abc import Iterator

from tqdm.auto import tqdm


def batched_progress(n: int, batch_size: int, desc: str, progress: bool) -> Iterator[tuple[int, int]]:
    """Yield (start, stop) slices covering range(n); the bar counts items, not batches."""
    with tqdm(total=n, desc=desc, unit="item", disable=not progress or n == 0) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            yield start, stop
            bar.update(stop - start)
