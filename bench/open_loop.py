"""An open-loop load generator: requests leave at a fixed rate whatever the answers do.

A closed loop (wrk: N clients, each waiting for its answer before the next) slows down with the
server and so hides queueing: the latency it reports is the latency of the requests the server
let through. Here request i is due at ``start + i / rate``; its latency is counted from that
moment, not from when it was actually sent, so a stall shows as the wait every request queued
behind it really had (no "coordinated omission"). At half the measured capacity this is the
latency a till sees on a normal busy day.

Used by bench/pos_throughput.py; plain asyncio sockets (HTTP/1.1, one connection per request,
as gunicorn is run there without keep-alive), a few per cent of a core at these rates.
"""

import asyncio
import itertools
import random
import statistics
import time

MAX_IN_FLIGHT = 512  # beyond this the server is not keeping up: the rest count as errors


def run_open_loop(*, port: int, rate: float, seconds: float, cards: list[str], tokens: list[str]) -> dict:
    """Stamps and earns at ``rate`` requests per second for ``seconds``; p50/p95/p99 in ms from the due time."""
    return asyncio.run(_run(port, rate, seconds, cards, tokens))


def _request(card: str, token: str, n: int, run: str) -> bytes:
    if n % 2:
        path, body = f"/api/v1/cards/{card}/stamp/", b"{}"
    else:
        path, body = f"/api/v1/cards/{card}/earn-points/", b'{"purchase_amount": "12.50"}'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: open-{run}-{n}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _one(port: int, payload: bytes, due: float, latencies: list, errors: list) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        await reader.read()  # to the end: the answer is complete
        writer.close()
        status = int(status_line.split()[1])
        if not 200 <= status < 300:
            errors.append(status)
            return
        latencies.append((time.perf_counter() - due) * 1000)
    except (TimeoutError, OSError, ValueError, IndexError) as exc:
        errors.append(type(exc).__name__)


async def _run(port: int, rate: float, seconds: float, cards: list[str], tokens: list[str]) -> dict:
    run = f"{random.getrandbits(32):08x}"
    latencies: list[float] = []
    errors: list = []
    tasks: set[asyncio.Task] = set()
    start = time.perf_counter() + 0.1
    total = int(rate * seconds)
    for n, token in zip(range(total), itertools.cycle(tokens)):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= MAX_IN_FLIGHT:
            errors.append("backlog")
            continue
        task = asyncio.create_task(_one(port, _request(random.choice(cards), token, n, run), due, latencies, errors))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=15)
    elapsed = time.perf_counter() - start
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {
        "rate": rate,
        "sent": total,
        "ok": len(latencies),
        "errors": len(errors),
        "achieved_rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50": quantiles[49],
        "p95": quantiles[94],
        "p99": quantiles[98],
    }
