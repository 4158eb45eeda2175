"""pydicom warnings are captured per thread (scans and the decode pool run concurrently):
each thread gets its own notes, other threads' warnings are not swallowed, and the process-wide
warning state is restored afterwards."""
from __future__ import annotations

import threading
import warnings

from viewer.io.dicom_values import pydicom_notes


def test_overlapping_captures_in_threads_keep_their_own_notes():
    before = (warnings.showwarning, list(warnings.filters))
    barrier = threading.Barrier(4)
    results: dict[int, list[str]] = {}

    def work(k: int) -> None:
        notes: list[str] = []
        with pydicom_notes(notes):
            barrier.wait()
            warnings.warn(f"thread {k} value", UserWarning)
            barrier.wait()
        results[k] = notes

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {k: [f"pydicom warning: thread {k} value"] for k in range(4)}
    assert (warnings.showwarning, list(warnings.filters)) == before
    with warnings.catch_warnings(record=True) as caught:  # warnings work as before afterwards
        warnings.simplefilter("always")
        warnings.warn("after", UserWarning)
    assert [str(w.message) for w in caught] == ["after"]


def test_nested_capture_and_repeats():
    outer: list[str] = []
    with pydicom_notes(outer):
        inner: list[str] = []
        with pydicom_notes(inner):
            for _ in range(2):
                warnings.warn("same place", UserWarning)
        warnings.warn("outer one", UserWarning)
    assert inner == ["pydicom warning: same place"]
    assert outer == ["pydicom warning: outer one"]
