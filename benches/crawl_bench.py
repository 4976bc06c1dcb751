#!/usr/bin/env python3
"""Crawl benchmark: chipwatch vs a threads + feedparser + sqlite3 pipeline.

    python3 benches/crawl_bench.py --bin target/release/chipwatch [--feeds 500 --items 50]

1. generates a deterministic corpus (RSS 2.0 / Atom / JSON Feed, 400-700 byte
   HTML summaries, syndicated items shared across feeds) in a temp dir;
2. serves it on 127.0.0.1 (port 0) from a separate process (ETag,
   Last-Modified, 304s, keep-alive) and measures the server alone first;
3. writes a chipwatch config for the run;
4. runs `BIN --config CFG crawl` cold (fresh DB), then again unchanged (all
   304), each measured alone with os.wait4 (wall, user+sys CPU, peak RSS);
5. does the same with benches/baseline_feedparser.py; with `--repeat N`,
   N rounds of both, one tool after the other in each round;
6. prints a markdown table, the speedup, the issue's targets, and what each
   SQLite DB holds.

See benches/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpus  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

# The targets.
TARGET_SPEEDUP = 20.0
TARGET_RSS_MIB = 100.0
TARGET_RECRAWL_CPU_MS = 50.0


def die(msg: str, code: int = 2) -> None:
    print(f"crawl_bench: error: {msg}", file=sys.stderr)
    sys.exit(code)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ensure_feedparser() -> None:
    try:
        import feedparser  # noqa: F401
    except ImportError:
        log("feedparser missing: python3 -m pip install --quiet feedparser")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "feedparser"])
        if r.returncode != 0:
            die("could not install feedparser (needed for the baseline); use --skip-baseline to run without it")


def check_binary(path: str) -> str:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        die(f"chipwatch binary not found at {path}; build it first: cargo build --release")
    if not os.access(path, os.X_OK):
        die(f"{path} is not executable")
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        die(f"could not run {path} --help: {e}")
    if "crawl" not in r.stdout + r.stderr:
        die(f"{path} --help does not list a `crawl` command:\n{r.stdout}{r.stderr}")
    return path


# ------------------------------------------------------------------ server ---


class Server:
    def __init__(self, root: str, impl: str, gzip: bool):
        cmd = [sys.executable, os.path.join(HERE, "feedserver.py"), "--root", root, "--impl", impl]
        if gzip:
            cmd.append("--gzip")
        self.impl = impl
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            die(f"feed server did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[11], [12] are utime, stime (the 14th and 15th of the full line)
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stats(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(self.base + "/__stats", timeout=10) as r:
            return json.load(r)

    def snapshot(self) -> dict:
        return {"cpu": self.cpu_s(), "stats": self.stats()}

    @staticmethod
    def delta(a: dict, b: dict) -> dict:
        sa, sb = a["stats"], b["stats"]
        status = {k: v - sa["status"].get(k, 0) for k, v in sb["status"].items() if v - sa["status"].get(k, 0)}
        return {
            "cpu_s": b["cpu"] - a["cpu"],
            "requests": sb["requests"] - sa["requests"],
            "status": status,
            "body_bytes": sb["body_bytes"] - sa["body_bytes"],
            "conditional": sb["conditional"] - sa["conditional"],
            # minus the connection of the second /__stats request itself
            "connections": sb["connections"] - sa["connections"] - 1,
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _client_loop(port: int, paths: list[str], conns: int, etags: dict | None) -> dict:
    """Fetch every path once over `conns` keep-alive connections; return ETags seen."""
    queue = list(reversed(paths))
    seen: dict[str, str] = {}
    statuses: dict[int, int] = {}

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                path = queue.pop()
                extra = f"If-None-Match: {etags[path]}\r\n" if etags else ""
                writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                statuses[status] = statuses.get(status, 0) + 1
                clen = 0
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    k = k.lower()
                    if k == "content-length":
                        clen = int(v)
                    elif k == "etag":
                        seen[path] = v.strip()
                if status != 304 and clen:
                    await reader.readexactly(clen)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(conns)))
    return {"etags": seen, "status": statuses}


def server_selfcheck(server: Server, paths: list[str], conns: int, rounds: int = 5) -> dict:
    """Time the server alone: all files (200), then all conditional (304).

    Wall: best of `rounds` (includes the Python client, so it is an upper
    bound). Server CPU: mean over the rounds (/proc ticks are 10 ms)."""
    best = {}
    etags = None
    for kind in ("full", "cond"):
        walls, cpus = [], []
        for _ in range(rounds):
            s0 = server.snapshot()
            t0 = time.perf_counter()
            r = asyncio.run(_client_loop(server.port, paths, conns, etags if kind == "cond" else None))
            wall = time.perf_counter() - t0
            s1 = server.snapshot()
            d = Server.delta(s0, s1)
            want = 304 if kind == "cond" else 200
            if r["status"].get(want, 0) != len(paths):
                die(f"server self-check: expected {len(paths)} x {want}, got {r['status']}")
            walls.append(wall)
            cpus.append(d["cpu_s"])
            etags = r["etags"] if kind == "full" else etags
        best[kind] = {"wall_s": min(walls), "server_cpu_s": sum(cpus) / len(cpus)}
    return best


# ------------------------------------------------------------- measuring ---


def run_measured(cmd: list[str], out_prefix: str, server: Server | None, env: dict | None = None) -> dict:
    """Run cmd alone and measure it with os.wait4 (its own rusage, not the process tree's sum)."""
    snap0 = server.snapshot() if server else None
    with open(out_prefix + ".stdout", "wb") as fo, open(out_prefix + ".stderr", "wb") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    snap1 = server.snapshot() if server else None
    with open(out_prefix + ".stdout", "rb") as f:
        stdout = f.read().decode("utf-8", "replace")
    with open(out_prefix + ".stderr", "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    return {
        "cmd": cmd,
        "rc": p.returncode,
        "wall_s": wall,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_mib": ru.ru_maxrss / 1024.0,  # Linux: KiB
        "server": Server.delta(snap0, snap1) if server else None,
        "stdout": stdout,
        "stderr": stderr,
        "stderr_path": out_prefix + ".stderr",
    }


def inspect_db(path: str) -> dict:
    """Row counts of every table; `articles` if there is one."""
    if not os.path.exists(path):
        return {"exists": False, "tables": {}, "articles": None}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = {}
        for n in names:
            try:
                tables[n] = con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]
            except sqlite3.Error as e:  # e.g. a virtual table whose module is not loaded here
                tables[n] = f"error: {e}"
    finally:
        con.close()
    return {"exists": True, "tables": tables, "articles": tables.get("articles")}


def write_config(path: str, db: str, base: str, feeds: list[dict], concurrency: int, per_host: int, extra: str) -> None:
    lines = [
        "# Generated by benches/crawl_bench.py",
        f"database = {json.dumps(db)}",
        "",
        "[http]",
        f"concurrency = {concurrency}",
        f"per_host = {per_host}",
        "",
    ]
    if extra:
        lines += [extra.rstrip(), ""]
    for f in feeds:
        lines += ["[[feeds]]", f"name = {json.dumps(f['name'])}", f"url = {json.dumps(base + f['path'])}", ""]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def median_run(runs: list[dict]) -> dict:
    """Median of each metric over repeated runs (peak RSS: the max)."""
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[len(runs) // 2])
    for k in ("wall_s", "user_s", "sys_s", "cpu_s"):
        out[k] = statistics.median(r[k] for r in runs)
    out["maxrss_mib"] = max(r["maxrss_mib"] for r in runs)
    return out


def fail_report(label: str, r: dict) -> None:
    print(f"\n### {label} failed (exit {r['rc']})\n", flush=True)
    print("command: " + " ".join(r["cmd"]))
    print("stderr (exact, last 8000 chars):\n```")
    print(r["stderr"][-8000:])
    print("```")
    if r["stdout"].strip():
        print("stdout (last 2000 chars):\n```")
        print(r["stdout"][-2000:])
        print("```")


# ------------------------------------------------------------------- main ---


def fresh_db(db: str) -> str:
    """`db` with no database, log or shared-memory file left from before."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    return db


def run_pair(tool: str, cmd: list[str], prefix: str, i: int, server, cold: list, re_: list, detail) -> bool:
    """Round `i` of one tool: a cold crawl, then the same crawl again
    (recrawl), each appended to its list. False once a run failed."""
    r = run_measured(cmd, f"{prefix}-cold{i}", server)
    cold.append(r)
    if r["rc"] != 0:
        fail_report(f"{tool} cold crawl", r)
        return False
    log(f"  {r['wall_s']:.3f}s wall, {r['cpu_s']:.3f}s CPU, {r['maxrss_mib']:.1f} MiB; {detail(r)}")
    log(f"{tool} recrawl #{i + 1}")
    r = run_measured(cmd, f"{prefix}-re{i}", server)
    re_.append(r)
    if r["rc"] != 0:
        fail_report(f"{tool} recrawl", r)
        return False
    log(f"  {r['wall_s'] * 1000:.1f} ms wall, {r['cpu_s'] * 1000:.1f} ms CPU; {detail(r)}")
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/chipwatch", help="chipwatch binary (default: %(default)s)")
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--items", type=int, default=50, help="items per feed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--summary-bytes", default="400-700", help="MIN-MAX size of each item's HTML summary (default: %(default)s)"
    )
    ap.add_argument("--server", choices=("asyncio", "threading"), default="asyncio", help="feed server implementation")
    ap.add_argument("--gzip", action="store_true", help="serve gzip to clients that accept it")
    ap.add_argument("--compare-servers", action="store_true", help="also self-check the other server implementation")
    ap.add_argument("--concurrency", type=int, default=64, help="[http] concurrency in the chipwatch config")
    ap.add_argument("--per-host", type=int, default=64, help="[http] per_host in the chipwatch config")
    ap.add_argument("--config-extra", default="", help="TOML text (or @FILE) appended to the generated config")
    ap.add_argument("--baseline-workers", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each tool (cold+recrawl pairs); median reported")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-chipwatch", action="store_true", help="corpus, server and baseline only")
    ap.add_argument("--workdir", help="use this dir instead of a fresh temp dir (kept)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (corpus, config, DBs, logs)")
    ap.add_argument("--json", help="also write all measurements to this JSON file")
    a = ap.parse_args(argv)

    try:
        lo, hi = (int(x) for x in a.summary_bytes.split("-"))
    except ValueError:
        die("--summary-bytes wants MIN-MAX, e.g. 400-700")
    extra = a.config_extra
    if extra.startswith("@"):
        with open(extra[1:], encoding="utf-8") as f:
            extra = f.read()

    bin_path = None if a.skip_chipwatch else check_binary(a.bin)
    if not a.skip_baseline:
        ensure_feedparser()

    work = os.path.abspath(a.workdir) if a.workdir else tempfile.mkdtemp(prefix="chipwatch-bench-")
    os.makedirs(work, exist_ok=True)
    keep = a.keep or bool(a.workdir)
    results: dict = {"workdir": work}
    server = None
    try:
        # 1. corpus
        t0 = time.perf_counter()
        manifest = corpus.generate(os.path.join(work, "corpus"), a.feeds, a.items, a.seed, (lo, hi))
        results["corpus"] = {k: manifest[k] for k in ("total_items", "distinct_links", "total_bytes", "formats")}
        log(
            f"corpus: {a.feeds} feeds x {a.items} items = {manifest['total_items']} items, "
            f"{manifest['distinct_links']} distinct links, {manifest['total_bytes'] / 1e6:.1f} MB "
            f"{manifest['formats']} in {time.perf_counter() - t0:.1f}s -> {work}/corpus"
        )
        paths = [f["path"] for f in manifest["feeds"]]

        # 2. server, measured alone
        sc = {}
        impls = [a.server] + ([i for i in ("asyncio", "threading") if i != a.server] if a.compare_servers else [])
        for impl in impls:
            s = Server(os.path.join(work, "corpus"), impl, a.gzip)
            try:
                sc[impl] = {c: server_selfcheck(s, paths, c) for c in (8, 64)}
            finally:
                if impl != a.server:
                    s.stop()
                else:
                    server = s
            for c, r in sc[impl].items():
                log(
                    f"server[{impl}] {len(paths)} files over {c} conns: 200s in {r['full']['wall_s'] * 1000:.0f} ms wall "
                    f"({r['full']['server_cpu_s'] * 1000:.0f} ms server CPU); 304s in {r['cond']['wall_s'] * 1000:.0f} ms "
                    f"({r['cond']['server_cpu_s'] * 1000:.0f} ms server CPU)"
                )
        results["server_selfcheck"] = sc
        log(f"serving {server.base} ({a.server}, pid {server.proc.pid})")

        rows = []
        # 3. Both tools, round by round: each round runs chipwatch (cold,
        # then recrawl) and then the baseline (cold, then recrawl), so that
        # both see the same state of the machine. (Running all of one tool
        # first put chipwatch's few seconds and the baseline's minutes in
        # different phases of a shared VM, whose speed drifts by up to 1.5x.)
        urls = os.path.join(work, "urls.txt")
        with open(urls, "w", encoding="utf-8") as f:
            for m in manifest["feeds"]:
                f.write(f"{m['name']}\t{server.base}{m['path']}\n")
        cw_cold, cw_re, bl_cold, bl_re = [], [], [], []
        run_cw, run_bl = bool(bin_path), not a.skip_baseline
        for i in range(a.repeat):
            if run_cw:
                db = fresh_db(os.path.join(work, f"bench{i}.db"))
                cfg = os.path.join(work, f"chipwatch{i}.toml")
                write_config(cfg, db, server.base, manifest["feeds"], a.concurrency, a.per_host, extra)
                cmd = [bin_path, "--config", cfg, "crawl"]
                log(f"chipwatch cold #{i + 1}: {' '.join(cmd)}")
                run_cw = run_pair("chipwatch", cmd, os.path.join(work, "chipwatch"), i, server, cw_cold, cw_re,
                                  lambda r: f"server {r['server']['status']}")
            if run_bl:
                db = fresh_db(os.path.join(work, f"baseline{i}.db"))
                cmd = [
                    sys.executable, os.path.join(HERE, "baseline_feedparser.py"),
                    "--urls", urls, "--db", db, "--workers", str(a.baseline_workers),
                ]
                log(f"baseline cold #{i + 1}")
                run_bl = run_pair("baseline", cmd, os.path.join(work, "baseline"), i, server, bl_cold, bl_re,
                                  lambda r: r["stdout"].strip())
        if bin_path:
            results["chipwatch"] = {"cold": cw_cold, "recrawl": cw_re, "db": inspect_db(os.path.join(work, "bench0.db"))}
            rows.append(("chipwatch", cw_cold, cw_re, results["chipwatch"]["db"]))
        if not a.skip_baseline:
            results["baseline"] = {"cold": bl_cold, "recrawl": bl_re, "db": inspect_db(os.path.join(work, "baseline0.db"))}
            rows.append(("python threads+feedparser+sqlite3", bl_cold, bl_re, results["baseline"]["db"]))

        ok = report(a, manifest, sc, rows, results)
    finally:
        if server:
            server.stop()
        if a.json:
            strip = lambda r: {k: v for k, v in r.items() if k not in ("stdout", "stderr")}  # noqa: E731
            for tool in ("chipwatch", "baseline"):
                if tool in results:
                    for phase in ("cold", "recrawl"):
                        results[tool][phase] = [strip(r) for r in results[tool][phase]]
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1, default=str)
        if keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def report(a, manifest, sc, rows, results) -> bool:
    c = results["corpus"]
    print(f"\n## Crawl benchmark: {a.feeds} feeds x {a.items} items\n")
    print(
        f"Corpus: {c['total_items']} items ({c['distinct_links']} distinct links), "
        f"{c['total_bytes'] / 1e6:.1f} MB ({c['total_bytes'] / 2**20:.1f} MiB), formats {c['formats']}, "
        f"summaries {a.summary_bytes} B, seed {a.seed}{', gzip' if a.gzip else ''}. "
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}.\n"
    )
    print("Feed server, measured alone (Python asyncio client loop, keep-alive; wall best of 5, server CPU mean of 5):\n")
    n = a.feeds
    print(f"| server | conns | {n}x200 wall ms | server CPU ms | {n}x304 wall ms | server CPU ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for impl, by_c in sc.items():
        for conns, r in by_c.items():
            print(
                f"| {impl} | {conns} | {r['full']['wall_s'] * 1000:.0f} | {r['full']['server_cpu_s'] * 1000:.0f} "
                f"| {r['cond']['wall_s'] * 1000:.0f} | {r['cond']['server_cpu_s'] * 1000:.0f} |"
            )
    print()

    ok = True
    table = []
    for name, cold, re_, db in rows:
        if not cold or cold[-1]["rc"] != 0:
            table.append((name, None, None, db))
            ok = False
            continue
        mc = median_run(cold)
        mr = median_run(re_) if re_ and re_[-1]["rc"] == 0 else None
        if mr is None:
            ok = False
        table.append((name, mc, mr, db))

    print("| tool | cold wall s | cold CPU s | peak RSS MiB | recrawl wall ms | recrawl CPU ms | articles stored |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, mc, mr, db in table:
        arts = db["articles"] if db.get("articles") is not None else "n/a"
        if mc is None:
            print(f"| {name} | failed | | | | | {arts} |")
            continue
        rw = f"{mr['wall_s'] * 1000:.1f}" if mr else "failed"
        rc = f"{mr['cpu_s'] * 1000:.1f}" if mr else "failed"
        rss = max(mc["maxrss_mib"], mr["maxrss_mib"]) if mr else mc["maxrss_mib"]
        print(f"| {name} | {mc['wall_s']:.3f} | {mc['cpu_s']:.3f} | {rss:.1f} | {rw} | {rc} | {arts} |")
    print()

    print("Server side of each run (requests seen by the feed server, its CPU during the run):\n")
    for name, mc, mr, _db in table:
        for phase, m in (("cold", mc), ("recrawl", mr)):
            if m and m.get("server"):
                s = m["server"]
                print(
                    f"- {name} {phase}: {s['requests']} requests {s['status']}, {s['connections']} connections, "
                    f"{s['body_bytes'] / 1e6:.1f} MB, server CPU {s['cpu_s'] * 1000:.0f} ms"
                )
    print()

    by = {name: (mc, mr) for name, mc, mr, _ in table}
    cw = by.get("chipwatch")
    bl = by.get("python threads+feedparser+sqlite3")
    if cw and bl and cw[0] and bl[0]:
        sw = bl[0]["wall_s"] / cw[0]["wall_s"]
        scpu = bl[0]["cpu_s"] / cw[0]["cpu_s"] if cw[0]["cpu_s"] else float("inf")
        print(f"Speedup, cold crawl: **{sw:.1f}x** wall, {scpu:.1f}x CPU (medians).")
        cc = [r for r in results["chipwatch"]["cold"] if r["rc"] == 0]
        bc = [r for r in results["baseline"]["cold"] if r["rc"] == 0]
        rounds = [b["wall_s"] / c["wall_s"] for c, b in zip(cc, bc)]
        if rounds:
            print(
                f"Per round (each chipwatch cold crawl against the baseline's in the same round): "
                f"{', '.join(f'{x:.1f}x' for x in rounds)}; median {statistics.median(rounds):.1f}x."
            )
        if cw[1] and bl[1]:
            print(
                f"Recrawl: chipwatch {cw[1]['cpu_s'] * 1000:.1f} ms CPU vs baseline {bl[1]['cpu_s'] * 1000:.1f} ms CPU "
                f"({bl[1]['wall_s'] / cw[1]['wall_s']:.1f}x wall)."
            )
        print()
    if cw and cw[0]:
        mc, mr = cw
        rss = max(mc["maxrss_mib"], mr["maxrss_mib"]) if mr else mc["maxrss_mib"]
        checks = []
        if bl and bl[0]:
            sw = bl[0]["wall_s"] / mc["wall_s"]
            checks.append((f"cold crawl >= {TARGET_SPEEDUP:.0f}x faster than the baseline (wall)", sw >= TARGET_SPEEDUP, f"{sw:.1f}x"))
        checks.append((f"peak RSS < {TARGET_RSS_MIB:.0f} MiB", rss < TARGET_RSS_MIB, f"{rss:.1f} MiB"))
        if mr:
            checks.append(
                (f"unchanged recrawl < {TARGET_RECRAWL_CPU_MS:.0f} ms of work (user+sys CPU)",
                 mr["cpu_s"] * 1000 < TARGET_RECRAWL_CPU_MS, f"{mr['cpu_s'] * 1000:.1f} ms CPU, {mr['wall_s'] * 1000:.1f} ms wall")
            )
            n304 = (mr.get("server") or {}).get("status", {}).get("304", 0)
            checks.append(("recrawl answered all 304", n304 == a.feeds, f"{n304}/{a.feeds}"))
        print("Targets (issue):\n")
        for what, passed, val in checks:
            print(f"- [{'x' if passed else ' '}] {what}: {val}")
        print()

    print(f"Distinct articles in the corpus (by link): {manifest['distinct_links']}")
    for name, _mc, _mr, db in table:
        if not db["exists"]:
            print(f"- {name}: no database file")
            continue
        tabs = ", ".join(f"{t}={n}" for t, n in db["tables"].items()) or "no tables"
        note = ""
        if db["articles"] is not None:
            note = " (matches)" if db["articles"] == manifest["distinct_links"] else f" (corpus has {manifest['distinct_links']})"
        else:
            note = " (no table named `articles`)"
        print(f"- {name}: articles={db['articles']}{note}; tables: {tabs}")
    arts = [db["articles"] for _, _, _, db in table if db.get("articles") is not None]
    if len(arts) == 2:
        print(f"- same number of distinct articles: {'yes' if arts[0] == arts[1] else 'NO'} ({arts[0]} vs {arts[1]})")
    print()
    return ok


if __name__ == "__main__":
    sys.exit(main())
