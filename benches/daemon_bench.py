"""Daemon benchmark: many feeds on a fixed cadence, served on loopback.

    python3 benches/daemon_bench.py --bin target/release/chipwatch \
        [--feeds 10000] [--items 10] [--interval 5m] [--window 900] [--change-every 10 --change 100]

1. generates the corpus of benches/corpus.py (`--feeds` × `--items`) and
   serves it from memory with the asyncio server of benches/feedserver.py
   (ETag / Last-Modified, 304 to conditional GETs), in this process;
2. every `--change-every` seconds, `--change` random RSS/Atom feeds get a
   new item (new body, ETag and Last-Modified), so some polls fetch and
   store while most get a 304;
3. starts `chipwatch daemon` with every feed at `interval = --interval`
   (`[http] per_host` high and `[daemon] host_gap = "0s"`: all feeds share
   one host here, which no real feed list does);
4. after the cold first cycle, measures for `--window` seconds:
   - poll lag: the time a request reached the server minus the time the
     daemon had scheduled that poll for (its stored `next_poll`, sampled
     from the database every second, read-only); p50/p95/p99/max;
   - CPU (user+sys from /proc/PID/stat) over the window, as a share of
     one core; peak RSS (VmHWM);
5. SIGTERM, checks exit 0 and integrity_check.

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import feedserver  # noqa: E402


def log(msg: str) -> None:
    print(f"[daemon_bench] {msg}", file=sys.stderr, flush=True)


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/chipwatch")
    ap.add_argument("--feeds", type=int, default=10000)
    ap.add_argument("--items", type=int, default=10, help="items per feed")
    ap.add_argument("--interval", default="5m", help="every feed's interval (humantime)")
    ap.add_argument("--window", type=float, default=900.0, help="measured seconds after the cold cycle")
    ap.add_argument("--change-every", type=float, default=10.0, help="seconds between feed changes")
    ap.add_argument("--change", type=int, default=100, help="feeds changed each time")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args(argv)

    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        log(f"{binary} is not an executable; build it with `cargo build --release`")
        return 2
    work = tempfile.mkdtemp(prefix="chipwatch-daemon-bench-")
    log(f"generating {args.feeds} feeds x {args.items} items in {work}")
    manifest = corpus.generate(work, feeds=args.feeds, items=args.items, seed=args.seed, summary_bytes=(100, 250))
    res = feedserver.load(work, False)
    stats = feedserver.Stats()

    # Request log: (monotonic-free wall time, path), appended by the server thread.
    requests: list[tuple[float, str]] = []
    original = feedserver.respond

    def logged(res_, stats_, method, path, headers):
        requests.append((time.time(), path.split("?", 1)[0]))
        return original(res_, stats_, method, path, headers)

    feedserver.respond = logged
    ready = threading.Event()
    port_box: list[int] = []

    def on_ready(port):
        port_box.append(port)
        ready.set()

    threading.Thread(
        target=feedserver.serve_asyncio, args=(res, stats, "127.0.0.1", 0, on_ready), daemon=True
    ).start()
    ready.wait(10)
    base = f"http://127.0.0.1:{port_box[0]}"

    db = os.path.join(work, "bench.db")
    cfg = os.path.join(work, "chipwatch.toml")
    lines = [
        f"database = {json.dumps(db)}",
        "[http]",
        f"concurrency = {args.concurrency}",
        f"per_host = {args.concurrency}",
        "[daemon]",
        'host_gap = "0s"',
        "",
    ]
    for m in manifest["feeds"]:
        lines += ["[[feeds]]", f"url = {json.dumps(base + m['path'])}", f"interval = {json.dumps(args.interval)}", ""]
    with open(cfg, "w") as f:
        f.write("\n".join(lines))

    # Feed changes: a new item on top of a random RSS or Atom feed.
    rng = random.Random(args.seed)
    changeable = [m["path"] for m in manifest["feeds"] if m["format"] in ("rss", "atom")]
    stop = threading.Event()
    changes = [0]

    def change_loop():
        n = 0
        while not stop.wait(args.change_every):
            for path in rng.sample(changeable, min(args.change, len(changeable))):
                r = res[path]
                n += 1
                link = f"https://changed.example/{n}"
                now = time.time()
                if b"<item>" in r.body:
                    new = (
                        f"<item><title>Update {n} on regional markets</title><link>{link}</link>"
                        f"<guid>{link}</guid><description>Fresh report number {n} from the trade desk.</description>"
                        f"<pubDate>{formatdate(now, usegmt=True)}</pubDate></item>"
                    ).encode()
                    body = r.body.replace(b"<item>", new + b"<item>", 1)
                else:
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
                    new = (
                        f"<entry><title>Update {n} on regional markets</title><link href=\"{link}\"/>"
                        f"<id>{link}</id><updated>{stamp}</updated><summary>Fresh report number {n}.</summary></entry>"
                    ).encode()
                    body = r.body.replace(b"<entry>", new + b"<entry>", 1)
                res[path] = feedserver.Resource(body, f'"c{n}"', int(now), r.ctype, False)
                changes[0] += 1

    env = dict(os.environ, RUST_LOG="chipwatch=info")
    err_path = os.path.join(work, "daemon.log")
    errf = open(err_path, "w")
    t_start = time.time()
    proc = subprocess.Popen([binary, "--config", cfg, "daemon"], stdout=subprocess.DEVNULL, stderr=errf, env=env)
    log(f"daemon pid {proc.pid}; log {err_path}")

    # Wait for the cold cycle (every feed polled once).
    while True:
        time.sleep(1)
        if proc.poll() is not None:
            log("the daemon exited early; see its log")
            return 1
        with open(err_path) as f:
            if "poll cycle" in f.read():
                break
    cold_s = time.time() - t_start
    log(f"cold cycle done in {cold_s:.1f} s; measuring for {args.window:.0f} s")
    threading.Thread(target=change_loop, daemon=True).start()

    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    path_of = {base + m["path"]: m["path"] for m in manifest["feeds"]}
    # Schedules seen: path -> list of (sample time, next_poll) changes.
    sched: dict[str, list[tuple[float, int]]] = {}
    req_from = len(requests)
    cpu0, w0 = proc_cpu_s(proc.pid), time.time()
    end = w0 + args.window
    while time.time() < end:
        t = time.time()
        for url, nxt in ro.execute("SELECT url, next_poll FROM feeds WHERE next_poll IS NOT NULL"):
            p = path_of.get(url)
            if p is None:
                continue
            hist = sched.setdefault(p, [])
            if not hist or hist[-1][1] != nxt:
                hist.append((t, nxt))
        time.sleep(max(0.0, 1.0 - (time.time() - t)))
    cpu1, w1 = proc_cpu_s(proc.pid), time.time()
    hwm = proc_hwm_mib(proc.pid)
    stop.set()

    # Lag of each poll in the window: request time minus the schedule that
    # was in force (the latest next_poll seen before the request, and
    # already due).
    lags: list[float] = []
    for t_req, path in requests[req_from:]:
        hist = sched.get(path)
        if not hist:
            continue
        due = None
        for seen, nxt in hist:
            if seen <= t_req:
                due = nxt
            else:
                break
        if due is None or due > t_req + 1:
            continue  # a poll we did not see scheduled
        lags.append(t_req - due)
    lags.sort()

    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    stop_s = time.time() - t0
    errf.close()
    integrity = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
    window = w1 - w0
    out = {
        "feeds": args.feeds,
        "interval": args.interval,
        "window_s": round(window, 1),
        "cold_cycle_s": round(cold_s, 1),
        "polls_in_window": len(requests) - req_from,
        "polls_with_schedule": len(lags),
        "feed_changes": changes[0],
        "lag_p50_s": round(pct(lags, 50), 2),
        "lag_p95_s": round(pct(lags, 95), 2),
        "lag_p99_s": round(pct(lags, 99), 2),
        "lag_max_s": round(lags[-1], 2) if lags else None,
        "cpu_s": round(cpu1 - cpu0, 1),
        "cpu_share_of_one_core": round((cpu1 - cpu0) / window, 3),
        "peak_rss_mib": round(hwm, 1),
        "sigterm_exit": code,
        "sigterm_s": round(stop_s, 2),
        "integrity": integrity,
        "server_status": json.loads(stats.to_json())["status"],
    }
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    ok = code == 0 and integrity == "ok"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
