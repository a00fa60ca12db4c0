"""Load test of the web demo's sentiment endpoint: N concurrent clients, a fixed number of requests.

Starts ``dl4nlp serve RUN ...`` in a child process on a free loopback port, waits until it answers, then
each of ``--clients`` threads sends requests one after another (SST dev sentences, in turn) through
Gradio's HTTP API (``POST /gradio_api/call/sentiment`` then the result stream), until ``--requests``
requests have been made in all. Reports p50/p95/p99 latency, throughput and the error count (HTTP
failures, error events, or an error message where a prediction was expected).

    python benchmarks/demo_load.py runs/ladder-sst2/logreg-sst2-s13 --clients 8 --requests 800
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from dl4nlp.demo.limits import DemoSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sentences(sst: Path, n: int) -> list[str]:
    path = sst / "dev.tsv"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (give --sst, the folder with the SST dev.tsv)")
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t", 1)[1] for line in lines[:n]]


def one_request(client, url: str, text: str, session: str | None = None) -> tuple[float, str | None]:
    """(seconds, error or None) for one prediction through the queue. ``session``: the Gradio session
    hash the request belongs to (None: a new session per request, as an anonymous HTTP call gets)."""
    start = time.perf_counter()
    body: dict = {"data": [text]}
    if session:
        body["session_hash"] = session
    try:
        r = client.post(f"{url}gradio_api/call/sentiment", json=body)
        if r.status_code != 200:
            return time.perf_counter() - start, f"HTTP {r.status_code}"
        event = r.json()["event_id"]
        kind, data = None, None
        with client.stream("GET", f"{url}gradio_api/call/sentiment/{event}") as s:
            for line in s.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    data = line[5:].strip()
                    break
        took = time.perf_counter() - start
        if kind != "complete":
            return took, f"event {kind}: {data}"
        out = json.loads(data)
        if "dl4nlp-error" in out[0] or 'class="prediction"' not in out[0]:
            return took, "error message instead of a prediction"
        return took, None
    except Exception as exc:  # noqa: BLE001 - counted, not raised
        return time.perf_counter() - start, f"{type(exc).__name__}: {exc}"


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    import httpx

    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server not ready after {timeout:.0f} s")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders (or folders of runs) to serve")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=800, help="requests in all (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=16, help="requests sent first and not measured")
    defaults = DemoSettings()  # the load test measures what `dl4nlp serve` does by default
    ap.add_argument("--concurrency", type=int, default=defaults.concurrency, help="dl4nlp serve --concurrency")
    ap.add_argument("--threads", type=int, default=defaults.threads, help="dl4nlp serve --threads")
    ap.add_argument("--sst", type=Path, default=Path("../shared/data/sst"))
    ap.add_argument("--session-per-request", action="store_true",
                    help="start a new Gradio session with every request (anonymous HTTP calls) instead of "
                         "one session per client")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()

    import httpx

    texts = sentences(args.sst, 1101)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "dl4nlp.cli", "serve", *args.runs, "--port", str(port),
           "--concurrency", str(args.concurrency), "--threads", str(args.threads), "--vectors", "none",
           "--queue-size", str(max(64, 4 * args.clients))]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    log = tempfile.NamedTemporaryFile("w+", prefix="demo-load-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        try:
            wait_ready(url, proc)
        except SystemExit:
            log.flush()
            print(Path(log.name).read_text(encoding="utf-8")[-3000:], file=sys.stderr)
            raise
        with httpx.Client(timeout=60) as c:
            for i in range(args.warmup):
                one_request(c, url, texts[i % len(texts)])

        lock = threading.Lock()
        counter = iter(range(args.requests))
        latencies: list[float] = []
        errors: list[str] = []

        def client() -> None:
            # one session per client, as a browser tab or a gradio_client.Client has (Gradio builds the
            # per-session state of every component of every tab when a session starts)
            session = None if args.session_per_request else uuid.uuid4().hex[:11]
            with httpx.Client(timeout=60) as c:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    took, err = one_request(c, url, texts[i % len(texts)], session)
                    with lock:
                        latencies.append(took)
                        if err:
                            errors.append(err)

        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    ms = [1000 * x for x in latencies]
    result = {
        "runs": args.runs, "clients": args.clients, "requests": len(ms), "server_concurrency": args.concurrency,
        "server_threads": args.threads,
        "sessions": "per request" if args.session_per_request else "per client",
        "errors": len(errors), "first_errors": errors[:5],
        "p50_ms": round(percentile(ms, 0.50), 1), "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1), "mean_ms": round(statistics.mean(ms), 1),
        "max_ms": round(max(ms), 1), "throughput_rps": round(len(ms) / wall, 1), "wall_s": round(wall, 1),
        "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        from dl4nlp.core.io import write_json

        write_json(args.out, result)


if __name__ == "__main__":
    main()
