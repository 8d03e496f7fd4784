"""One workload of the Dask benchmark, run as a Dask client.

Usage: /usr/bin/python3 client.py PHASE SCHEDULER_FILE ARGS_FILE (JSON)
Prints the phase's raw measurements as one JSON line on stdout; bench/dask.ts
starts the cluster, runs each phase and turns the samples into figures. All
times are time.time() on this machine, in ms.
"""
import json
import os
import signal
import sys
import time

from distributed import Client, as_completed

from bench_tasks import burn, noop, sleeper, stamp, victim


def ms(seconds):
    return round(seconds * 1000, 3)


def per_worker(client, futures):
    """How many of `futures` each worker holds the result of (asked after the timing ends)."""
    names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}
    counts = {}
    for holders in client.who_has(futures).values():
        for addr in holders:
            counts[names.get(addr, addr)] = counts.get(names.get(addr, addr), 0) + 1
    return counts


def latency(client, args):
    """Single trivial tasks one after another: submit → the task's own start, submit → result."""
    for _ in range(args["warm"]):  # the first runs import and connect lazily
        client.submit(stamp, pure=False).result()
    to_start, to_result = [], []
    for _ in range(args["n"]):
        t0 = time.time()
        started = client.submit(stamp, pure=False).result()
        t1 = time.time()
        to_start.append(ms(started - t0))
        to_result.append(ms(t1 - t0))
    return {"toStartMs": to_start, "toResultMs": to_result, "workers": len(client.scheduler_info()["workers"])}


def throughput(client, args):
    """client.map of N trivial tasks, then of M busy-loop tasks: first submit → last result."""
    out = {}
    t0 = time.time()
    futures = client.map(noop, range(args["trivial"]), pure=False)
    client.gather(futures)
    out["trivial"] = {"tasks": args["trivial"], "ms": ms(time.time() - t0), "perWorker": per_worker(client, futures)}
    del futures
    t0 = time.time()
    futures = client.map(burn, range(args["burn"]), ms=args["burnMs"], pure=False)
    spent = client.gather(futures)
    out["burn"] = {
        "tasks": args["burn"],
        "ms": ms(time.time() - t0),
        "meanCpuMs": round(sum(c for c, _ in spent) / len(spent), 3),
        "meanWallMs": round(sum(w for _, w in spent) / len(spent), 3),
        "perWorker": per_worker(client, futures),
    }
    return out


def placement(client, args):
    """The placement instance: resource-restricted sleep tasks, the DAG as futures passed as arguments."""
    runs = []
    for run in range(args["runs"]):
        futures = {}
        t0 = time.time()
        for t in args["tasks"]:  # listed with every task after its dependencies
            deps = [futures[a] for a in t["after"]]
            futures[t["name"]] = client.submit(
                sleeper, t["name"], t["units"] * args["unitMs"], *deps,
                key=f"{t['name']}-run{run}",
                resources={"CPU": t["cpu"], "MEM": t["memoryMB"], "GPU": t["gpu"]},
            )
        ran = {}
        for f in as_completed(list(futures.values())):
            r = f.result()
            ran[r["name"]] = {"worker": r["worker"], "startMs": ms(r["start"] - t0), "endMs": ms(r["end"] - t0)}
        runs.append({"makespanMs": ms(time.time() - t0), "tasks": ran})
        del futures
    return {"runs": runs}


def read_starts(log, tag):
    with open(log) as f:
        rows = [line.split() for line in f if line.startswith(tag + " ")]
    return [(int(pid), float(at)) for _, pid, at in rows]


def wait_for(cond, timeout_s, what):
    deadline = time.time() + timeout_s
    while not cond():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)


def recovery(client, args):
    """kill -9 of the worker running a task → that task starting again on another worker.

    The bench (bench/dask/cluster.ts) starts a replacement for every worker
    that dies, so each round begins with `workers` idle workers.
    """
    log = os.path.join(args["dir"], "starts.log")
    open(log, "w").close()
    samples, victims = [], []
    for k in range(args["kills"]):
        tag, stop = f"k{k}", os.path.join(args["dir"], f"stop-{k}")
        future = client.submit(victim, tag, log, stop, args["maxS"], pure=False)
        wait_for(lambda: read_starts(log, tag), 30, "victim start")
        pid = read_starts(log, tag)[0][0]
        t_kill = time.time()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(read_starts(log, tag)) >= 2, 60, "victim restart")
        again_pid, again_at = read_starts(log, tag)[1]
        samples.append(ms(again_at - t_kill))
        victims.append({"killedPid": pid, "ranAgainOnPid": again_pid})
        open(stop, "w").close()
        future.result(timeout=30)
        # Wait for the replacement worker before the next round, so there are always spares.
        wait_for(lambda: len(client.scheduler_info()["workers"]) >= args["workers"], 60, "replacement worker")
        time.sleep(0.2)
    return {"killToStartMs": samples, "victims": victims}


PHASES = {"latency": latency, "throughput": throughput, "placement": placement, "recovery": recovery}

if __name__ == "__main__":
    phase, scheduler_file = sys.argv[1], sys.argv[2]
    with open(sys.argv[3]) as f:
        args = json.load(f)
    with Client(scheduler_file=scheduler_file) as client:
        result = PHASES[phase](client, args)
    print(json.dumps(result), flush=True)
