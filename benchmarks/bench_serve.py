"""Throughput and latency of ``fennec serve`` under a real load generator (issue 17).

Starts ``fennec serve`` (``--workers``, default 2) on 127.0.0.1 for each zoo, then drives
``POST /rank`` from a second process with wrk (Debian's ``apt-get install wrk``) at 1, 8 and
64 concurrent connections, for two kinds of request:

- ``repeated``: the same task (three known results) every time: answered from the cache of
  answers, which holds one per (zoo, generation, request);
- ``distinct``: every request a different task (a known score that changes with each request,
  made by wrk's Lua script): a ranking computed each time;
- ``trivial``: ``GET /health`` of the same app, the yardstick: what the stack (uvicorn,
  FastAPI, the workers, wrk itself on the same CPUs) serves when a request costs nothing.

Prints one Markdown table: requests/s, its ratio to ``trivial`` at the same number of clients
(measured in the same run), p50 and p99 latency (wrk's own percentiles), non-2xx answers and
socket errors. The goal (docs/benchmarks.md): fresh (``distinct``) rankings on hf-nlp at >= 50%
of the trivial endpoint's throughput and p99 < 50 ms at 64 clients.

    python benchmarks/bench_serve.py [--zoos pytorchcv105,hf-nlp] [--clients 1,8,64] [--seconds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

#: every wrk run's summary, one JSON line: requests, seconds, p50/p99 latency, non-2xx, socket errors
DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"seconds":%f,"p50_us":%d,"p99_us":%d,"status":%d,'
                         .. '"socket":%d}\n', summary.requests, summary.duration / 1e6, latency:percentile(50),
                         latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""

#: POST /rank with three known results (ZOO, M1..M3, DISTINCT set by a header line): the same task
#: every time, or a known score that changes with each request (a ranking computed each time)
RANK_LUA = r"""
local counter = 0
local body_for = function(i)
  return string.format('{"zoo":"%s","known":{"%s":%.10f,"%s":0.6,"%s":0.55},"top":10}',
                       ZOO, M1, DISTINCT and (0.7 + (i % 100000) * 1e-7) or 0.7, M2, M3)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = body_for(0)
request = function()
  if DISTINCT then
    counter = counter + 1
    return wrk.format(nil, nil, nil, body_for(counter))
  end
  return wrk.format()
end
""" + DONE_LUA


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as res:
        return json.loads(res.read())


@contextlib.contextmanager
def server(zoo: str, workers: int) -> Iterator[str]:
    """``fennec serve --zoo ZOO`` on a free port; yields its URL once /health answers."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fennec_core.cli", "serve", "--zoo", zoo, "--port", str(port),
                             "--workers", str(workers), "-q"], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"fennec serve --zoo {zoo} exited with {proc.returncode}")
            with contextlib.suppress(OSError):
                _get(f"{url}/health")
                break
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_wrk(url: str, zoo: str, models: list[str], clients: int, seconds: int, kind: str,
            folder: Path) -> dict:
    """One wrk run against ``POST /rank`` (kind ``repeated`` or ``distinct``) or ``GET /health``
    (``trivial``); its summary as a dict."""
    script = folder / f"rank-{zoo}-{kind}.lua"
    if kind == "trivial":
        script.write_text(DONE_LUA)
        target = f"{url}/health"
    else:
        head = (f'ZOO = "{zoo}"\nM1, M2, M3 = "{models[0]}", "{models[1]}", "{models[2]}"\n'
                f"DISTINCT = {'true' if kind == 'distinct' else 'false'}\n")
        script.write_text(head + RANK_LUA)
        target = f"{url}/rank"
    threads = min(clients, 2)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
                          "-s", str(script), target], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    """Run every (zoo, request kind, clients) cell and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoos", default="pytorchcv105,hf-nlp")
    p.add_argument("--clients", default="1,8,64")
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_serve needs wrk: apt-get install wrk")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for zoo in args.zoos.split(","):
            with server(zoo, args.workers) as url:
                page = _get(f"{url}/zoos/{zoo}?limit=3")
                models = [m["model"] for m in page["model_table"]["items"]]
                for kind in ("trivial", "repeated", "distinct"):
                    run_wrk(url, zoo, models, 8, 2, kind, Path(tmp))  # warm-up: caches, every worker
                    for clients in (int(c) for c in args.clients.split(",")):
                        r = run_wrk(url, zoo, models, clients, args.seconds, kind, Path(tmp))
                        rows.append((zoo, kind, clients, r["requests"] / r["seconds"], r["p50_us"] / 1000,
                                     r["p99_us"] / 1000, r["status"], r["socket"]))
    print(f"fennec serve, {args.workers} worker(s), wrk on the same {os.cpu_count()}-CPU machine, "
          f"{args.seconds} s per cell, POST /rank top 10 with 3 known results\n")
    trivial = {(zoo, clients): rps for zoo, kind, clients, rps, *_ in rows if kind == "trivial"}
    print("| zoo | request | clients | requests/s | / trivial | p50 ms | p99 ms | non-2xx | socket errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for zoo, kind, clients, rps, p50, p99, status, sock in rows:
        ratio = rps / trivial[zoo, clients]
        print(f"| {zoo} | {kind} | {clients} | {rps:,.0f} | {ratio:.2f} | {p50:.1f} | {p99:.1f} | {status} | {sock} |")


if __name__ == "__main__":
    main()
