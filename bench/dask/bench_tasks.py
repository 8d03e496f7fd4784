"""Task bodies the Dask benchmark runs on its workers.

They live in their own module (on the workers' PYTHONPATH) so that the client
pickles them by reference, as a real project's tasks would be.
"""
import os
import time

from distributed import get_worker


def stamp():
    """The wall-clock time the task started (same machine as the client)."""
    return time.time()


def noop(_i):
    """Does nothing: measures Dask's own cost per task."""
    return None


def burn(_i, ms):
    """Burns `ms` of this thread's CPU time, like the Meshwork `burn` handler
    (not wall time: with more busy threads than cores, a wall-clock loop
    would finish having done less work).

    Returns the thread's CPU time and wall time actually spent, in ms.
    """
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    end = cpu0 + ms / 1000
    x = 0.0
    while time.thread_time() < end:
        for _ in range(200):
            x += (x + 1) ** 0.5
    return (time.thread_time() - cpu0) * 1000, (time.perf_counter() - wall0) * 1000


def sleeper(name, ms, *_deps):
    """Sleeps `ms` (a placement task); its inputs are the futures it depends on."""
    start = time.time()
    time.sleep(ms / 1000)
    return {"name": name, "worker": get_worker().name, "start": start, "end": time.time()}


def victim(tag, log, stop, max_s):
    """Logs its start (`tag pid epoch`) and sleeps until `stop` exists (at most `max_s`).

    Polling a file rather than one long sleep lets the bench end the task: a
    cancelled Dask future does not interrupt a running thread.
    """
    with open(log, "a") as f:
        f.write(f"{tag} {os.getpid()} {time.time()}\n")
    deadline = time.time() + max_s
    while time.time() < deadline and not os.path.exists(stop):
        time.sleep(0.01)
    return os.getpid()
