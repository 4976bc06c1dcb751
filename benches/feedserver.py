"""Loopback HTTP/1.1 server for the benchmark corpus.

    python3 benches/feedserver.py --root CORPUS_DIR [--impl asyncio|threading] [--port 0] [--gzip]

Serves every file listed in CORPUS_DIR/manifest.json from memory with
Content-Type, Content-Length, ETag and Last-Modified, answers conditional
requests with 304 (If-None-Match wins over If-Modified-Since, as RFC 9110
says), and keeps connections alive (HTTP/1.1 default; HTTP/1.0 only with
"Connection: keep-alive"). Once listening it prints "PORT <n>" on stdout.

GET /__stats returns JSON counters (requests, per-status counts, body bytes)
and does not count itself; the benchmark reads it before and after each run.

Two implementations with the same behaviour:
- asyncio (default): one event loop and a raw Protocol, responses prebuilt;
- threading: http.server.ThreadingHTTPServer, kept to measure against.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import socket
import sys
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Resource:
    __slots__ = ("body", "gz_body", "etag", "gz_etag", "last_modified", "lm_ts", "ctype")

    def __init__(self, body: bytes, etag: str, lm_ts: int, ctype: str, with_gzip: bool):
        self.body = body
        self.etag = etag
        self.lm_ts = lm_ts
        self.last_modified = formatdate(lm_ts, usegmt=True)
        self.ctype = ctype
        self.gz_body = gzip.compress(body, compresslevel=6, mtime=0) if with_gzip else None
        self.gz_etag = etag[:-1] + '-gz"' if with_gzip else None


def load(root: str, with_gzip: bool) -> dict[str, Resource]:
    with open(os.path.join(root, "manifest.json")) as f:
        manifest = json.load(f)
    res = {}
    for m in manifest["feeds"]:
        with open(os.path.join(root, m["path"].lstrip("/")), "rb") as f:
            body = f.read()
        res[m["path"]] = Resource(body, m["etag"], m["last_modified"], m["content_type"], with_gzip)
    return res


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.status: dict[int, int] = {}
        self.body_bytes = 0
        self.conditional = 0
        self.connections = 0

    def add(self, status: int, nbytes: int, conditional: bool):
        # Only the threading server needs the lock; it is cheap enough for both.
        with self.lock:
            self.requests += 1
            self.status[status] = self.status.get(status, 0) + 1
            self.body_bytes += nbytes
            self.conditional += conditional

    def to_json(self) -> bytes:
        with self.lock:
            return json.dumps(
                {
                    "requests": self.requests,
                    "status": {str(k): v for k, v in sorted(self.status.items())},
                    "body_bytes": self.body_bytes,
                    "conditional": self.conditional,
                    "connections": self.connections,
                    "pid": os.getpid(),
                }
            ).encode()


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison over a comma-separated If-None-Match list."""
    header = header.strip()
    if header == "*":
        return True
    want = etag[2:] if etag.startswith("W/") else etag
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == want:
            return True
    return False


def _not_modified_since(header: str, lm_ts: int) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since is None:
        return False
    return lm_ts <= int(since.timestamp())


def respond(res: dict[str, Resource], stats: Stats, method: str, path: str, headers: dict[str, str]):
    """Return (status, header lines, body) for a request; body is b"" for HEAD/304."""
    path = path.split("?", 1)[0]
    if path == "/__stats":
        return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], stats.to_json(), False
    r = res.get(path)
    if r is None:
        body = b"not found\n"
        stats.add(404, len(body), False)
        return 404, [("Content-Type", "text/plain")], body, True
    use_gz = r.gz_body is not None and "gzip" in headers.get("accept-encoding", "")
    etag = r.gz_etag if use_gz else r.etag
    inm = headers.get("if-none-match")
    ims = headers.get("if-modified-since")
    conditional = inm is not None or ims is not None
    if inm is not None:
        not_modified = _etag_matches(inm, etag)
    elif ims is not None:
        not_modified = _not_modified_since(ims, r.lm_ts)
    else:
        not_modified = False
    hdrs = [("ETag", etag), ("Last-Modified", r.last_modified), ("Cache-Control", "max-age=0")]
    if r.gz_body is not None:
        hdrs.append(("Vary", "Accept-Encoding"))
    if not_modified:
        stats.add(304, 0, conditional)
        return 304, hdrs, b"", True
    body = r.gz_body if use_gz else r.body
    hdrs.append(("Content-Type", r.ctype))
    if use_gz:
        hdrs.append(("Content-Encoding", "gzip"))
    stats.add(200, len(body), conditional)
    return 200, hdrs, body, True


REASON = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


# ---------------------------------------------------------------- asyncio ---

_date_cache = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True)
    return _date_cache[1]



class _Proto(asyncio.Protocol):
    __slots__ = ("res", "stats", "buf", "transport")

    def __init__(self, res, stats):
        self.res = res
        self.stats = stats
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.stats.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        out = []
        close = False
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    out.append(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    close = True
                break
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                out.append(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                close = True
                break
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            clen = int(headers.get("content-length", "0") or 0)
            if len(self.buf) < end + 4 + clen:
                break  # wait for the (unexpected) request body
            self.buf = self.buf[end + 4 + clen :]
            conn_hdr = headers.get("connection", "").lower()
            keep = ("close" not in conn_hdr) if version == "HTTP/1.1" else ("keep-alive" in conn_hdr)
            if method not in ("GET", "HEAD"):
                status, hdrs, body = 405, [("Allow", "GET, HEAD")], b""
            else:
                status, hdrs, body, _ = respond(self.res, self.stats, method, target, headers)
            parts = [f"HTTP/1.1 {status} {REASON[status]}\r\nDate: {_http_date()}\r\n"]
            for k, v in hdrs:
                parts.append(f"{k}: {v}\r\n")
            if status != 304:
                parts.append(f"Content-Length: {len(body)}\r\n")
            parts.append("Connection: keep-alive\r\n\r\n" if keep else "Connection: close\r\n\r\n")
            out.append("".join(parts).encode("latin-1"))
            if method == "GET" and status != 304 and body:
                out.append(body)
            if not keep:
                close = True
                break
        if out:
            self.transport.writelines(out)
        if close:
            self.transport.close()


def serve_asyncio(res, stats, host, port, ready):
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Proto(res, stats), host, port, backlog=1024, reuse_address=True)
        ready(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -------------------------------------------------------------- threading ---


def serve_threading(res, stats, host, port, ready):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # silence per-request logging
            pass

        def _do(self, head_only):
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, hdrs, body, _ = respond(res, stats, self.command, self.path, headers)
            self.send_response(status)
            for k, v in hdrs:
                self.send_header(k, v)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only and status != 304 and body:
                self.wfile.write(body)

        def do_GET(self):
            self._do(False)

        def do_HEAD(self):
            self._do(True)

        def setup(self):
            super().setup()
            stats.connections += 1
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True

    httpd = Server((host, port), Handler)
    ready(httpd.server_address[1])
    httpd.serve_forever()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="corpus dir (with manifest.json)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--impl", choices=("asyncio", "threading"), default="asyncio")
    ap.add_argument("--gzip", action="store_true", help="serve gzip when the client accepts it")
    a = ap.parse_args(argv)
    res = load(a.root, a.gzip)
    stats = Stats()

    def ready(port):
        print(f"PORT {port}", flush=True)

    (serve_asyncio if a.impl == "asyncio" else serve_threading)(res, stats, a.host, a.port, ready)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
