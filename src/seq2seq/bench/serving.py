"""`seq2seq bench --serve`: the server under load, measured from outside as its clients see it.

It starts `seq2seq serve` on a free loopback port and drives it from Python threads on the same
machine, each client on its own keep-alive connection: one client sending one-line requests in
turn, 8, 32 and 128 clients at once sending one-line requests, and one client sending 32 lines per
request, each with greedy search and beam 5. Then the overload cases: clients that send maximal
requests (64 lines of 1,000 characters, beam 10, n-best 10, attention) and hang up at once, followed
by one ordinary request; and 64 clients sending maximal requests at once. Reported per load:
sentences/s answered, latency percentiles of the answered requests, and the count of each status;
and the server's resident memory before and after. Last, what batching across requests is worth:
32 one-line clients against one client sending the same lines 32 to a request, alternated for
`RATIO_ROUNDS` rounds per search, as a ratio of their sentences/s (a single load lasts about a
second, shorter than this machine's drift).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

ONE_LINE_CLIENTS = (1, 8, 32, 128)
BATCHED_LINES = 32
LINES = 256  # lines sent by each load (at least `rounds` requests per client)
RATIO_ROUNDS = 5


@dataclass
class Load:
    """What one load gave."""

    name: str
    beam: int
    sentences_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    refused_p99_ms: float = 0.0  # latency of the 503 answers


def start(args: Sequence[str], cwd: Path | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """`seq2seq serve --port 0 ARGS` started; its base URL once it says where it listens; and its
    stderr lines so far (a thread keeps reading them, so the server never blocks on a full pipe)."""
    proc = subprocess.Popen([sys.executable, "-m", "seq2seq", "serve", "--port", "0", *args], cwd=cwd,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if found:
            threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
            return proc, found.group(1), lines
    raise RuntimeError(f"the server stopped before listening (exit code {proc.wait()}):\n{''.join(lines)}")


def _post(conn: http.client.HTTPConnection, body: dict) -> int:
    conn.request("POST", "/translate", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def drive(base: str, batches: Sequence[Sequence[list[str]]], name: str, **options) -> Load:
    """Each of `batches` is one client's requests (each a list of lines, sent with `options`: beam,
    n_best, attention), sent in turn on its own connection, all clients at once."""
    host, port = base.removeprefix("http://").split(":")
    records: list[tuple[int, float, int]] = []  # status, seconds, lines
    lock, ready = threading.Lock(), threading.Barrier(len(batches))

    def client(requests: Sequence[list[str]]) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        ready.wait()
        for lines in requests:
            began = time.perf_counter()
            try:
                status = _post(conn, {"text": lines, **options})
            except (OSError, http.client.HTTPException):
                status, conn = 0, http.client.HTTPConnection(host, int(port), timeout=120)
            with lock:
                records.append((status, time.perf_counter() - began, len(lines)))
        conn.close()

    threads = [threading.Thread(target=client, args=(requests,)) for requests in batches]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    answered = sorted(seconds for status, seconds, _ in records if status == 200)
    refused = sorted(seconds for status, seconds, _ in records if status == 503)
    return Load(name, options["beam"], round(sum(n for status, _, n in records if status == 200) / elapsed, 1),
                _ms(answered, 0.5), _ms(answered, 0.95), _ms(answered, 0.99),
                dict(sorted(Counter(str(status) for status, _, _ in records).items())), _ms(refused, 0.99))


def _ms(values: Sequence[float], q: float) -> float:
    """The q-quantile of sorted `values` in milliseconds (nearest rank), 0 for none."""
    if not values:
        return 0.0
    return round(1000 * values[min(len(values) - 1, max(0, round(q * len(values)) - 1))], 1)


def hang_up(base: str, requests: int, body: dict) -> None:
    """Send `requests` requests of `body`, each on its own connection, and close each at once."""
    host, port = base.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    for _ in range(requests):
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(b"POST /translate HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)


def resident_mb(pid: int) -> float:
    """The process's resident memory in MB (Linux), 0 where /proc cannot say."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def run_serve_bench(server_args: Sequence[str], sentences: Sequence[str], rounds: int = 2) -> dict:
    """Every load against a fresh server started with `server_args`; `sentences` are the lines sent
    (cycled). Each load sends LINES lines, and at least `rounds` requests per client."""
    proc, base, _ = start(server_args)
    peak, stop = [resident_mb(proc.pid)], threading.Event()

    def sample() -> None:  # the server's resident memory, every 50 ms
        while not stop.wait(0.05):
            peak[0] = max(peak[0], resident_mb(proc.pid))

    threading.Thread(target=sample, daemon=True).start()
    try:
        line = iter(list(sentences) * 1000)
        loads = []
        rss_start = peak[0]
        for beam in (1, 5):
            drive(base, [[[next(line)]] * 8], "warm-up", beam=beam)
            for clients in ONE_LINE_CLIENTS:
                loads.append(drive(base, one_line_clients(line, clients, max(rounds, LINES // clients)),
                                   f"{clients} client{'s' * (clients > 1)}, one line per request", beam=beam))
            loads.append(drive(base, one_batching_client(line, BATCHED_LINES),
                               f"1 client, {BATCHED_LINES} lines per request", beam=beam))
        maximal, largest = [("je suis tres content " * 60)[:1000]] * 64, {"beam": 10, "n_best": 10, "attention": True}
        hang_up(base, 24, {"text": maximal, **largest})
        after_hang_up = drive(base, [[[next(line)]]], "1 line after 24 maximal requests hung up", beam=5)
        crowd = drive(base, [[maximal]] * 64, "64 clients, maximal requests", **largest)
        batching = []
        for beam in (1, 5):
            found = batching_ratios(base, line, beam)
            batching.append({"beam": beam, "clients": BATCHED_LINES, "ratios": found, "median": median(found)})
        return {"loads": [vars(load) for load in loads + [after_hang_up, crowd]],
                "resident_mb": {"start": rss_start, "peak": peak[0], "end": resident_mb(proc.pid)},
                "batching": batching}
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)


def one_line_clients(line: Iterator[str], clients: int, per_client: int) -> list[list[list[str]]]:
    """`drive`'s requests for `clients` clients sending `per_client` one-line requests each."""
    return [[[next(line)] for _ in range(per_client)] for _ in range(clients)]


def one_batching_client(line: Iterator[str], per_request: int) -> list[list[list[str]]]:
    """`drive`'s requests for one client sending LINES lines, `per_request` to a request."""
    return [[[next(line) for _ in range(per_request)] for _ in range(LINES // per_request)]]


def batching_ratios(base: str, line: Iterator[str], beam: int, clients: int = BATCHED_LINES,
                    rounds: int = RATIO_ROUNDS) -> list[float]:
    """`rounds` ratios of the sentences/s of `clients` clients sending one line per request to one
    client sending the same number of lines `clients` to a request, the two loads alternated."""
    found = []
    for _ in range(rounds):
        apart = drive(base, one_line_clients(line, clients, LINES // clients), "", beam=beam)
        together = drive(base, one_batching_client(line, clients), "", beam=beam)
        found.append(round(apart.sentences_per_s / together.sentences_per_s, 2))
    return found


def as_table(result: dict) -> str:
    """The bench's result as a Markdown table, then the memory line."""
    rows = ["| load | beam | sentences/s | p50 ms | p95 ms | p99 ms | statuses | 503s' p99 ms |",
            "|---|---|---|---|---|---|---|---|"]
    for load in result["loads"]:
        statuses = ", ".join(f"{n} x {status}" for status, n in load["statuses"].items())
        rows.append(f"| {load['name']} | {load['beam']} | {load['sentences_per_s']:,} | {load['p50_ms']} | "
                    f"{load['p95_ms']} | {load['p99_ms']} | {statuses} | {load['refused_p99_ms'] or ''} |")
    memory = result["resident_mb"]
    rows.append(f"\nServer resident memory: {memory['start']:,} MB at the start, {memory['peak']:,} MB at the "
                f"peak, {memory['end']:,} MB at the end.")
    for found in result["batching"]:
        rows.append(f"\n{found['clients']} one-line clients against one client sending {found['clients']}-line "
                    f"requests, beam {found['beam']}: "
                    f"{found['median']:.0%} of its sentences/s, the median of {len(found['ratios'])} alternated rounds "
                    f"({', '.join(f'{r:.2f}' for r in found['ratios'])}).")
    return "\n".join(rows)
