"""A sweep on Dask (the optional extra `dask`): on a cluster at `scheduler`, or on a local
cluster of `workers` processes when no scheduler is given.

The data is scattered to every worker once (`broadcast=True`), then each run is one task
(`bot.sweep.run_job`). Results come back as they finish; `bot.sweep` orders them, so the
sweep is the same byte for byte as a serial one. Workers write each run's folder themselves:
on a cluster the results folder must be on a file system every worker sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.errors import BotError


class DaskMissing(BotError):
    """The dask extra is not installed."""


def run_on_dask(
    jobs: list[Any],
    source: Any,
    scheduler: str | None,
    workers: int,
    done: Callable[[int, tuple[dict[str, Any], dict[str, Any]]], None],
    run_job: Callable[..., tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise DaskMissing(
            "--executor dask needs the optional extra: pip install 'touchtrader[dask]'"
        ) from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise BotError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
            except ValueError as exc:  # not an address at all (dask parses it)
                raise BotError(f"--scheduler {scheduler!r}: {exc}; expected tcp://HOST:PORT") from None
        else:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        with client:
            shared = client.scatter(source, broadcast=True)
            futures = {client.submit(run_job, job, shared, pure=False): job.number for job in jobs}
            for future in as_completed(list(futures)):
                done(futures[future], future.result())
    finally:
        if cluster is not None:
            cluster.close()
