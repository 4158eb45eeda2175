"""`main.py localize --workers N | --scheduler ADDRESS`: the batch on a Dask cluster.

One task per series (`localize_task`), each running `BatchRun.process_series` of
viewer/cli/localize_run.py, the same per-series work as the single-process run, in a worker
process that keeps one localizer per weights file. The driver merges the outcomes in input order
into summary.csv / summary.json (rewritten as series finish), prints each series' messages, and
shows series done / total with an ETA (tqdm). A series that fails (load or localization error,
or its worker dies) is retried once by Dask (``retries=1``); if it fails again it is reported as
one `error:` line and the run goes on.

`--workers N` starts a local cluster of N single-threaded worker processes on 127.0.0.1 (no
dashboard); `--scheduler ADDRESS` uses a running Dask scheduler (tcp://host:8786), e.g. one started
by dask-jobqueue on Slurm or by dask-kubernetes (docs/PACS.md). The workers need this package and
the weights at the same path, and write to the same output folder (a shared file system).
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

from tqdm import tqdm

from gan.cli.common import error
from viewer.cli.localize_run import BatchRun, SeriesOutcome

#: localizers built in this (worker) process, by (weights, device)
_LOCALIZERS: dict = {}


class SeriesFailed(RuntimeError):
    """A series could not be loaded or localized (Dask retries the task once)."""


def localize_task(info, name: str, options: dict, measurements=None) -> SeriesOutcome:
    """Process one series in a worker; raises SeriesFailed so that Dask retries it.
    ``measurements``: the reader's, read by the driver (``BatchRun.reader_measurements``)."""
    threads = options.get("torch_threads")
    if threads:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    key = (str(options["weights"]), options["device"])
    if key not in _LOCALIZERS:
        from gan.inference import Localizer

        _LOCALIZERS[key] = Localizer(weights=Path(options["weights"]), device=options["device"])
    run = BatchRun(_LOCALIZERS[key], Path(options["out"]), options["formats"],
                   options["threshold"], options["lung_only"], show_progress=False,
                   seg_compression=options["seg_compression"], send_to=options.get("send_to"))
    outcome = run.process_series(info, name, measurements=measurements)
    if outcome.series_failed:
        raise SeriesFailed("; ".join(outcome.errors) or f"series {name}: failed")
    return outcome


def connect(workers: int | None, scheduler: str | None, timeout_s: float = 10.0):
    """(client, cluster or None); ValueError (one line) when no cluster can be had."""
    import logging

    from dask.distributed import Client, LocalCluster

    if scheduler:
        address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
        try:
            return Client(address, timeout=f"{timeout_s}s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else \
                type(exc).__name__
            raise ValueError(f"--scheduler {scheduler}: cannot connect ({reason})") from None
    try:
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               silence_logs=logging.CRITICAL)
        return Client(cluster), cluster
    except (OSError, TimeoutError, ValueError, RuntimeError) as exc:
        raise ValueError(f"--workers {workers}: cannot start a local Dask cluster "
                         f"({str(exc).strip().splitlines()[0] if str(exc).strip() else exc})") \
            from None


def run_on_dask(run: BatchRun, series: list, options: dict, workers: int | None = None,
                scheduler: str | None = None, show_progress: bool = True,
                connect_timeout_s: float = 10.0) -> int:
    """Process `series` on Dask into `run` (summary, messages); returns the failure count.

    ValueError (one line) when the cluster cannot be had; nothing is written then.
    """
    from dask.distributed import as_completed

    names = run.unique_names(series)
    order = {name: i for i, name in enumerate(names)}
    client, cluster = connect(workers, scheduler, connect_timeout_s)
    failures, summary_ok = 0, True
    tag = uuid.uuid4().hex[:8]
    try:
        futures = {}
        for i, (info, name) in enumerate(zip(series, names)):
            fut = client.submit(localize_task, info, name, options, run.reader_measurements(info),
                                retries=1, pure=False,
                                key=f"localize-{tag}-{i:05d}")
            futures[fut] = i
        with tqdm(total=len(series), desc="series", unit="series", file=sys.stderr,
                  disable=not show_progress) as bar:
            for fut in as_completed(futures):
                i = futures[fut]
                if fut.status == "error":
                    exc = fut.exception()
                    text = " ".join(p.strip() for p in str(exc).splitlines() if p.strip()) \
                        or type(exc).__name__
                    if not isinstance(exc, SeriesFailed):
                        text = f"series {names[i]}: {type(exc).__name__}: {text}"
                    error(f"{text} (failed again on the retry)")
                    failures += 1
                else:
                    failures += run.absorb(fut.result())
                    run.summary.series.sort(key=lambda s: order.get(s.name, len(order)))
                    summary_ok = run.write_summary()
                fut.release()
                bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    summary_ok = run.write_summary() and summary_ok
    run.report_seg_skipped()
    return failures + (not summary_ok)
