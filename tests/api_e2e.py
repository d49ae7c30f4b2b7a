#!/usr/bin/env python3
"""End-to-end test of mlsgated's HTTP/2 API with real HTTP/2 clients.

Starts mlsgated on 127.0.0.1:0 over a fresh store and drives it with
`curl --http2-prior-knowledge` (and `nghttp` for a few requests):

  * a conversation between two of our identities (alice opens with a
    KeyPackage of bob's pool, bob joins from the Welcome): encrypt, decrypt
    both ways, commit update after a rotation, info, close;
  * every error class of docs/api.md (400 malformed_json / invalid_base64
    / malformed_mls / invalid_argument, 401 missing / unknown / expired /
    revoked, 403, 404, 405, 409, 413, 422, 429, 431, 503 store_unavailable)
    with its problem+json body, each followed by a check that nothing
    changed (epoch, authenticator, the conversation still works);
  * the token/scope matrix: every route x every scope, allowed or 403, and
    every denial in the audit log;
  * idempotent POSTs (replay, reused key with another body);
  * the audit routes against `mlsgatectl audit verify` and the metrics.

Usage: api_e2e.py BUILDDIR
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
MLSGATED = os.path.join(BUILD, "mlsgated")
CTL = os.path.join(BUILD, "mlsgatectl")
checks = 0
failures = []


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("api_e2e: FAIL: " + what, flush=True)


def ctl(store, *args, env=None, expect_ok=True):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([CTL, "--store", store] + list(args),
                       capture_output=True, text=True, env=e)
    if expect_ok and p.returncode != 0:
        raise SystemExit("mlsgatectl %s failed: %s" % (args, p.stderr))
    return p


class Daemon:
    def __init__(self, store, *extra, prefix=None):
        self.log = open(os.path.join(store, "..", "daemon-%d.log" % time.time_ns()), "w+")
        cmd = (prefix or []) + [MLSGATED, "--store", store, "--listen",
                                "127.0.0.1:0"] + list(extra)
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.addr = None
        deadline = time.time() + 20
        while time.time() < deadline and self.addr is None:
            if self.p.poll() is not None:
                self.log.seek(0)
                raise SystemExit("mlsgated exited: " + self.log.read())
            self.log.seek(0)
            for line in self.log:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("event") == "listening":
                    self.addr = j["address"]
            time.sleep(0.05)
        if self.addr is None:
            self.stop()
            raise SystemExit("mlsgated did not log its address")
        self.base = "http://" + self.addr

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def curl(d, method, path, token=None, body=None, headers=None, raw=None):
    """Returns (status, headers dict, body bytes)."""
    args = ["curl", "-sS", "--http2-prior-knowledge", "-X", method,
            "-D", "-", "-o", "-", "--max-time", "20"]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    for h in headers or []:
        args += ["-H", h]
    data = None
    if raw is not None:
        data = raw
    elif body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    args.append(d.base + path)
    p = subprocess.run(args, input=data, capture_output=True)
    out = p.stdout
    if p.returncode != 0 and not out:
        return (0, {}, p.stderr)
    head, _, rest = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/2 (\d+)", lines[0])
    status = int(m.group(1)) if m else 0
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return (status, hdrs, rest)


def js(b):
    try:
        return json.loads(b)
    except ValueError:
        return None


def expect_problem(r, status, code, what):
    st, h, b = r
    j = js(b)
    ok = (st == status and j is not None and j.get("code") == code and
          j.get("status") == status and
          h.get("content-type", "").startswith("application/problem+json") and
          re.fullmatch(r"[0-9a-f]{32}", j.get("request_id", "")) is not None)
    check(ok, "%s: expected %d %s, got %d %s" % (what, status, code, st, b[:300]))
    return j


def b64(x):
    return base64.b64encode(x).decode()


def main():
    tmp = tempfile.mkdtemp(prefix="mlsgate-api-")
    store = os.path.join(tmp, "store")
    daemons = []
    try:
        run(tmp, store, daemons)
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("api_e2e: %d checks, %d failures" % (checks, len(failures)))
    sys.exit(1 if failures else 0)


SCOPES = ["conversations", "messages", "keys:admin", "audit:read", "metrics"]


def token(store, name, scopes, extra=(), env=None):
    p = ctl(store, "token", "create", "--name", name, "--scopes", scopes,
            "--json", *extra, env=env)
    return json.loads(p.stdout)["token"]


def run(tmp, store, daemons):
    vkey = json.loads(ctl(store, "--json", "init").stdout)["audit_verifier_key"]
    admin = token(store, "admin", ",".join(SCOPES))
    per_scope = {s: token(store, "only-" + s.replace(":", "-"), s) for s in SCOPES}
    expired = token(store, "expired", "keys:admin", ("--expires", "60s"),
                    env={"MLSGATE_NOW": "1000"})
    revoked = token(store, "revoked", "keys:admin")
    ctl(store, "token", "revoke", "revoked")

    d = Daemon(store, "--max-body", "65536", "--rate-limit", "100000")
    daemons.append(d)

    # ---- health, no token needed; x-request-id everywhere
    st, h, b = curl(d, "GET", "/v1/health")
    check(st == 200 and js(b) == {"status": "ok"}, "health: %d %s" % (st, b))
    check(re.fullmatch(r"[0-9a-f]{32}", h.get("x-request-id", "")) is not None,
          "x-request-id header")
    # nghttp, the other HTTP/2 client
    if shutil.which("nghttp"):
        p = subprocess.run(["nghttp", "-H", "authorization: Bearer " + admin,
                            d.base + "/v1/identities"], capture_output=True)
        check(p.returncode == 0 and js(p.stdout) is not None and
              "identities" in js(p.stdout), "nghttp GET /v1/identities")

    # ---- identities
    st, _, b = curl(d, "POST", "/v1/identities", admin,
                    {"name": "alice", "cipher_suite": 1, "rotate_every": 86400})
    alice = js(b)
    check(st == 201 and alice["name"] == "alice" and alice["cipher_suite"] == 1
          and len(alice["keys"]) == 1 and alice["keys"][0]["state"] == "active"
          and alice["active_key_id"] == alice["keys"][0]["key_id"],
          "create alice: %d %s" % (st, b[:200]))
    st, _, b = curl(d, "POST", "/v1/identities", admin,
                    {"name": "bob", "cipher_suite": 1})
    check(st == 201, "create bob")
    expect_problem(curl(d, "POST", "/v1/identities", admin,
                        {"name": "bob", "cipher_suite": 1}),
                   409, "already_exists", "duplicate identity")
    expect_problem(curl(d, "POST", "/v1/identities", admin,
                        {"name": "carol", "cipher_suite": 99}),
                   400, "invalid_argument", "unknown suite")
    expect_problem(curl(d, "POST", "/v1/identities", admin,
                        {"name": "bad name!", "cipher_suite": 1}),
                   400, "invalid_argument", "bad name")
    expect_problem(curl(d, "POST", "/v1/identities", admin, raw=b"{"),
                   400, "malformed_json", "truncated JSON")
    expect_problem(curl(d, "POST", "/v1/identities", admin, raw=b"[1]"),
                   400, "malformed_json", "JSON not an object")
    expect_problem(curl(d, "POST", "/v1/identities", admin,
                        {"name": 5, "cipher_suite": 1}),
                   400, "malformed_json", "wrong field type")
    st, _, b = curl(d, "GET", "/v1/identities", admin)
    check(st == 200 and [i["name"] for i in js(b)["identities"]] == ["alice", "bob"],
          "list identities")
    expect_problem(curl(d, "GET", "/v1/identities/nobody", admin),
                   404, "not_found", "unknown identity")

    # ---- key packages of bob
    st, _, b = curl(d, "POST", "/v1/identities/bob/key-packages", admin,
                    {"count": 3})
    kps = js(b)["key_packages"] if st == 201 else []
    check(st == 201 and len(kps) == 3, "bob key packages")
    st, _, b = curl(d, "GET", "/v1/identities/bob/key-packages/stats", admin)
    check(st == 200 and js(b)["unused"] == 3, "kp stats %s" % b)
    expect_problem(curl(d, "POST", "/v1/identities/bob/key-packages", admin,
                        {"count": 0}), 400, "invalid_argument", "count 0")

    # ---- a conversation: alice opens with bob's KeyPackage, bob joins
    expect_problem(curl(d, "POST", "/v1/conversations", admin,
                        {"identity": "alice", "peer_key_package": "@@@"}),
                   400, "invalid_base64", "bad base64")
    expect_problem(curl(d, "POST", "/v1/conversations", admin,
                        {"identity": "alice",
                         "peer_key_package": b64(b"\x00\x01\x00\x05\x00\x01")}),
                   400, "malformed_mls", "garbage key package")
    st, _, b = curl(d, "POST", "/v1/conversations", admin,
                    {"identity": "alice", "peer_key_package": kps[0]["key_package"],
                     "conversation_id": "conv-1"})
    opened = js(b)
    check(st == 201 and opened["conversation_id"] == "conv-1" and
          opened["epoch"] == 1 and opened["welcome"] and opened["ratchet_tree"],
          "open conversation: %d %s" % (st, b[:300]))
    expect_problem(curl(d, "POST", "/v1/conversations", admin,
                        {"identity": "alice", "peer_key_package": kps[1]["key_package"],
                         "conversation_id": "conv-1"}),
                   409, "already_exists", "conversation id taken")
    st, _, b = curl(d, "POST", "/v1/conversations/join", admin,
                    {"identity": "bob", "welcome": opened["welcome"],
                     "ratchet_tree": opened["ratchet_tree"]})
    joined = js(b)
    check(st == 201 and joined["epoch"] == 1, "bob joins: %d %s" % (st, b[:300]))
    bconv = joined["conversation_id"] if joined else "x"
    expect_problem(curl(d, "POST", "/v1/conversations/join", admin,
                        {"identity": "bob", "welcome": opened["welcome"],
                         "ratchet_tree": opened["ratchet_tree"]}),
                   404, "not_found", "second join with the same Welcome")

    def info(conv):
        st, _, b = curl(d, "GET", "/v1/conversations/" + conv, admin)
        return js(b) if st == 200 else None

    ia, ib = info("conv-1"), info(bconv)
    check(ia and ib and ia["epoch_authenticator"] == ib["epoch_authenticator"]
          and len(ia["members"]) == 2 and ia["identity"] == "alice",
          "both sides agree: %s %s" % (ia, ib))

    def send(frm, to, text):
        st, _, b = curl(d, "POST", "/v1/conversations/%s/encrypt" % frm, admin,
                        {"plaintext": b64(text)})
        e = js(b)
        if st != 200:
            check(False, "encrypt %s: %d %s" % (frm, st, b[:300]))
            return None
        st, _, b = curl(d, "POST", "/v1/conversations/%s/decrypt" % to, admin,
                        {"message": e["message"]})
        r = js(b)
        check(st == 200 and r["type"] == "application" and
              base64.b64decode(r["plaintext"]) == text,
              "decrypt %s: %d %s" % (to, st, b[:300]))
        return e

    e1 = send("conv-1", bconv, b"your code is 123456")
    check(e1 is not None and re.fullmatch(r"[0-9a-f]{64}", e1["content_hmac"] or "")
          and e1["signature_key_id"] == alice["active_key_id"],
          "encrypt response fields %s" % e1)
    send(bconv, "conv-1", b"thanks")

    # A rejected request changes nothing: replay, garbage, wrong group.
    before = info(bconv)
    expect_problem(curl(d, "POST", "/v1/conversations/%s/decrypt" % bconv, admin,
                        {"message": e1["message"]}), 422, "mls_rejected",
                   "replayed message")
    j = expect_problem(curl(d, "POST", "/v1/conversations/%s/decrypt" % bconv,
                            admin, {"message": b64(b"\x00\x01\x00\x02zz")}),
                       400, "malformed_mls", "garbage message")
    check(info(bconv) == before, "state unchanged after rejections")
    send("conv-1", bconv, b"still works")

    # Rotation, then a commit that moves alice's leaf to the new key.
    st, _, b = curl(d, "POST", "/v1/identities/alice/rotate", admin, {})
    rot = js(b)
    check(st == 200 and rot["active_key_id"] != alice["active_key_id"],
          "rotate alice")
    st, _, b = curl(d, "POST", "/v1/conversations/conv-1/commit", admin,
                    {"update": True})
    cm = js(b)
    check(st == 200 and cm["epoch"] == 2 and
          cm["signature_key_id"] == rot["active_key_id"], "commit update %s" % b[:200])
    st, _, b = curl(d, "POST", "/v1/conversations/%s/decrypt" % bconv, admin,
                    {"message": cm["commit"]})
    check(st == 200 and js(b)["type"] == "commit" and
          js(b)["conversation_epoch"] == 2, "bob processes commit %s" % b[:200])
    ia, ib = info("conv-1"), info(bconv)
    check(ia["epoch"] == 2 and ia["epoch_authenticator"] == ib["epoch_authenticator"],
          "agree after commit")
    check(rot["active_key_id"] in [m["signature_key_id"] for m in ib["members"]],
          "bob sees alice's new key")
    e2 = send("conv-1", bconv, b"after rotation")
    check(e2 and e2["epoch"] == 2, "message in epoch 2")
    expect_problem(curl(d, "POST", "/v1/conversations/conv-1/commit", admin,
                        {"update": False}), 400, "invalid_argument", "commit w/o update")

    # 409 epoch_conflict: a second daemon over the same store with conv-1
    # cached at the current epoch; the first commits, the second's commit
    # loses the compare-and-swap, changes nothing, and works once retried.
    d4 = Daemon(store)
    daemons.append(d4)
    st, _, b = curl(d4, "GET", "/v1/conversations/conv-1", admin)
    check(st == 200 and js(b)["epoch"] == 2, "second daemon sees conv-1")
    st, _, b = curl(d, "POST", "/v1/conversations/conv-1/commit", admin,
                    {"update": True})
    cm3 = js(b)
    check(st == 200 and cm3["epoch"] == 3, "commit to epoch 3")
    expect_problem(curl(d4, "POST", "/v1/conversations/conv-1/commit", admin,
                        {"update": True}), 409, "epoch_conflict",
                   "stale daemon's commit")
    st, _, b = curl(d, "GET", "/v1/conversations/conv-1", admin)
    check(st == 200 and js(b)["epoch"] == 3, "the conflict changed nothing")
    check(d4.stop() == 0, "second daemon stops cleanly")
    st, _, b = curl(d, "POST", "/v1/conversations/%s/decrypt" % bconv, admin,
                    {"message": cm3["commit"]})
    check(st == 200 and js(b)["conversation_epoch"] == 3, "bob follows to 3")
    send("conv-1", bconv, b"after the conflict")

    # 405, 404
    st, h, b = curl(d, "PUT", "/v1/conversations/conv-1", admin, {})
    expect_problem((st, h, b), 405, "method_not_allowed", "PUT conversation")
    check("GET" in h.get("allow", ""), "allow header")
    expect_problem(curl(d, "GET", "/v1/nothing", admin), 404, "not_found", "no route")
    expect_problem(curl(d, "GET", "/v1/conversations/none", admin), 404,
                   "not_found", "unknown conversation")

    # 413 body too large (max-body 64 KiB)
    expect_problem(curl(d, "POST", "/v1/conversations/conv-1/encrypt", admin,
                        {"plaintext": b64(b"x" * 100000)}), 413, "body_too_large",
                   "huge body")
    # 431 headers too large
    expect_problem(curl(d, "GET", "/v1/health", None,
                        headers=["x-big: " + "a" * 20000]), 431,
                   "headers_too_large", "huge header")

    # 401: none, unknown, expired, revoked; 403 wrong scope
    for tok, what in [(None, "no token"), ("mgt_" + "A" * 43, "unknown token"),
                      (expired, "expired token"), (revoked, "revoked token"),
                      ("garbage", "malformed token")]:
        st, h, b = curl(d, "GET", "/v1/identities", tok)
        expect_problem((st, h, b), 401, "unauthenticated", what)
        check(h.get("www-authenticate", "").startswith("Bearer"),
              "www-authenticate on " + what)

    # ---- the scope matrix: every route x every scope
    routes = [l.split() for l in subprocess.run(
        [MLSGATED, "--routes"], capture_output=True, text=True).stdout.splitlines()]
    check(len(routes) >= 20, "routes listed")
    concrete = {"{name}": "alice", "{key_id}": "0" * 32, "{id}": "conv-nope"}
    for method, path, scope in routes:
        if method == "DELETE":
            pass
        p = path
        for k, v in concrete.items():
            p = p.replace(k, v)
        for s in SCOPES:
            st, h, b = curl(d, method, p, per_scope[s],
                            body={} if method == "POST" else None)
            if scope == "-":
                check(st == 200, "%s %s is public: %d" % (method, path, st))
            elif s == scope:
                check(st not in (401, 403), "%s %s with %s: %d %s" %
                      (method, path, s, st, b[:200]))
            else:
                check(st == 403 and js(b) and js(b)["code"] == "forbidden",
                      "%s %s with %s: expected 403, got %d" % (method, path, s, st))

    # ---- idempotency
    hdr = ["Idempotency-Key: kp-batch-1"]
    r1 = curl(d, "POST", "/v1/identities/alice/key-packages", admin, {"count": 1},
              headers=hdr)
    r2 = curl(d, "POST", "/v1/identities/alice/key-packages", admin, {"count": 1},
              headers=hdr)
    check(r1[0] == 201 and r2[0] == 201 and r1[2] == r2[2] and
          r2[1].get("idempotent-replayed") == "true", "idempotent replay")
    st, _, b = curl(d, "GET", "/v1/identities/alice/key-packages/stats", admin)
    check(js(b)["unused"] == 1, "replay made no second KeyPackage")
    expect_problem(curl(d, "POST", "/v1/identities/alice/key-packages", admin,
                        {"count": 2}, headers=hdr), 422, "idempotency_key_reused",
                   "reused idempotency key")

    # An identity created under an Idempotency-Key (its answer stored in the
    # creation's own transaction) replays; the same key with another body
    # is refused.
    ih = ["Idempotency-Key: identity-carol"]
    r1 = curl(d, "POST", "/v1/identities", admin,
              {"name": "carol", "cipher_suite": 1}, headers=ih)
    r2 = curl(d, "POST", "/v1/identities", admin,
              {"name": "carol", "cipher_suite": 1}, headers=ih)
    check(r1[0] == 201 and r2[0] == 201 and r1[2] == r2[2] and
          r2[1].get("idempotent-replayed") == "true" and
          js(r1[2])["name"] == "carol", "identity creation replayed")
    expect_problem(curl(d, "POST", "/v1/identities", admin,
                        {"name": "carol2", "cipher_suite": 1}, headers=ih),
                   422, "idempotency_key_reused", "identity key reused")

    # A commit retried under its Idempotency-Key gives the same Commit back.
    ck = ["Idempotency-Key: commit-after-conflict"]
    r1 = curl(d, "POST", "/v1/conversations/conv-1/commit", admin, {"update": True},
              headers=ck)
    r2 = curl(d, "POST", "/v1/conversations/conv-1/commit", admin, {"update": True},
              headers=ck)
    check(r1[0] == 200 and r2[0] == 200 and r1[2] == r2[2] and
          r2[1].get("idempotent-replayed") == "true", "commit replayed")
    check(info("conv-1")["epoch"] == js(r1[2])["epoch"], "one commit, not two")
    st, _, b = curl(d, "POST", "/v1/conversations/%s/decrypt" % bconv, admin,
                    {"message": js(r1[2])["commit"]})
    check(st == 200 and js(b)["type"] == "commit", "bob follows the replayed commit")
    send("conv-1", bconv, b"after the replayed commit")

    # ---- audit routes
    st, h, note = curl(d, "GET", "/v1/audit/checkpoint", admin)
    check(st == 200 and note.startswith(b"mlsgate.audit/"), "checkpoint note")
    size = int(note.split(b"\n")[1]) if st == 200 else 0
    st, _, b = curl(d, "GET", "/v1/audit/entries?start=0&end=5", admin)
    ents = js(b)
    check(st == 200 and len(ents["entries"]) == 5 and ents["size"] >= size,
          "entries")
    st, _, b = curl(d, "GET", "/v1/audit/proofs/inclusion?index=3&tree_size=%d" % size,
                    admin)
    check(st == 200 and js(b)["leaf_hash"] == ents["entries"][3]["leaf_hash"],
          "inclusion proof")
    st, _, b = curl(d, "GET", "/v1/audit/proofs/consistency?first=3&second=%d" % size,
                    admin)
    check(st == 200 and isinstance(js(b)["hashes"], list), "consistency proof")
    expect_problem(curl(d, "GET", "/v1/audit/entries?start=x", admin), 400,
                   "invalid_argument", "bad query")
    st, _, b = curl(d, "GET", "/v1/audit/entries?start=0&end=100000", admin)
    allents = []
    start = 0
    while True:
        st, _, b = curl(d, "GET", "/v1/audit/entries?start=%d" % start, admin)
        page = js(b)["entries"]
        allents += page
        if len(page) < 1000:
            break
        start += 1000
    text = "\n".join(e["entry"] for e in allents)
    check("api.denied" in text, "denials are audited")
    # 4 wrong scopes for each scoped route, and the five 401s above.
    check(text.count('"api.denied"') >= (len(routes) - 1) * 4 + 5,
          "every scope denial audited (%d)" % text.count('"api.denied"'))
    check("your code is 123456" not in text and "123456" not in text,
          "no plaintext in the audit log")
    check(b"123456" not in open(os.path.join(store, "data.mdb"), "rb").read(),
          "no plaintext in the store")

    # ---- metrics
    st, h, b = curl(d, "GET", "/metrics", admin)
    check(st == 200 and b"mlsgate_http_requests_total{" in b and
          b"mlsgate_mls_operations_total{op=\"encrypt\"" in b and
          b"mlsgate_audit_entries" in b, "metrics")

    # ---- DELETE
    st, _, _ = curl(d, "DELETE", "/v1/conversations/conv-1", admin)
    check(st == 204, "close conversation")
    expect_problem(curl(d, "GET", "/v1/conversations/conv-1", admin), 404,
                   "not_found", "closed conversation")

    # ---- graceful stop, then the export verifies offline
    check(d.stop() == 0, "clean exit on SIGTERM")
    exp = os.path.join(tmp, "export.jsonl")
    subprocess.run([CTL, "--store", store, "audit", "export", "--out", exp],
                   check=True, capture_output=True)
    p = subprocess.run([CTL, "audit", "verify", exp, "--key", vkey],
                       capture_output=True, text=True)
    check(p.returncode == 0, "audit verify: " + p.stdout + p.stderr)

    # ---- TLS 1.3 with ALPN h2, then client certificates
    if shutil.which("openssl"):
        tls(tmp, store, admin, daemons)

    # ---- 429: a daemon with a tiny rate limit
    d2 = Daemon(store, "--rate-limit", "2")
    daemons.append(d2)
    codes = [curl(d2, "GET", "/v1/identities", admin)[0] for _ in range(12)]
    check(429 in codes, "rate limit: %s" % codes)
    r = curl(d2, "GET", "/v1/identities", admin)
    if r[0] == 429:
        expect_problem(r, 429, "rate_limited", "rate limited")
        check(r[1].get("retry-after") == "1", "retry-after")
    d2.stop()

    # ---- 503 store_unavailable: the store cannot grow (RLIMIT_FSIZE)
    if shutil.which("prlimit"):
        sz = os.path.getsize(os.path.join(store, "data.mdb"))
        d3 = Daemon(store, prefix=["prlimit", "--fsize=%d" % sz])
        daemons.append(d3)
        got503 = False
        before = curl(d3, "GET", "/v1/identities/alice/key-packages/stats", admin)[2]
        for i in range(200):
            r = curl(d3, "POST", "/v1/identities/alice/key-packages", admin,
                     {"count": 200})
            if r[0] == 503:
                expect_problem(r, 503, "store_unavailable", "store full")
                got503 = True
                break
        check(got503, "store_unavailable when the store cannot grow")
        after = curl(d3, "GET", "/v1/identities/alice/key-packages/stats", admin)[2]
        check(js(before) == js(after) and js(after) is not None,
              "a 503 changed nothing: %s %s" % (before, after))
        d3.stop()


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def tls(tmp, store, admin, daemons):
    cert, key = os.path.join(tmp, "srv.pem"), os.path.join(tmp, "srv.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1")
    d = Daemon(store, "--tls-cert", cert, "--tls-key", key)
    daemons.append(d)
    url = "https://" + d.addr
    p = subprocess.run(["curl", "-sS", "--http2", "--tlsv1.3", "--cacert", cert,
                        "-w", "\n%{http_version}", url + "/v1/health"],
                       capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.endswith("\n2") and '"ok"' in p.stdout,
          "TLS 1.3 + h2: %s %s" % (p.stdout, p.stderr))
    p = subprocess.run(["curl", "-sS", "--http2", "--tls-max", "1.2", "--cacert",
                        cert, url + "/v1/health"], capture_output=True, text=True)
    check(p.returncode != 0, "TLS 1.2 refused")
    check(d.stop() == 0, "TLS daemon stops")
    # Client certificates: a CA, a client signed by it, a stranger.
    ca, cakey = os.path.join(tmp, "ca.pem"), os.path.join(tmp, "ca.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", cakey, "-out", ca, "-days", "1", "-subj", "/CN=ca")
    ck, csr, cc = (os.path.join(tmp, n) for n in ("cl.key", "cl.csr", "cl.pem"))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ck, "-out", csr, "-subj", "/CN=router")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
            "-CAcreateserial", "-out", cc, "-days", "1")
    d = Daemon(store, "--tls-cert", cert, "--tls-key", key, "--client-ca", ca)
    daemons.append(d)
    url = "https://" + d.addr
    p = subprocess.run(["curl", "-sS", "--http2", "--cacert", cert, "--cert", cc,
                        "--key", ck, "-H", "Authorization: Bearer " + admin,
                        url + "/v1/identities"], capture_output=True, text=True)
    check(p.returncode == 0 and "identities" in p.stdout,
          "client certificate accepted: %s %s" % (p.stdout, p.stderr))
    p = subprocess.run(["curl", "-sS", "--http2", "--cacert", cert,
                        url + "/v1/health"], capture_output=True, text=True)
    check(p.returncode != 0 or '"ok"' not in p.stdout,
          "no client certificate refused")
    p = subprocess.run(["curl", "-sS", "--http2", "--cacert", cert, "--cert", cert,
                        "--key", key, url + "/v1/health"],
                       capture_output=True, text=True)
    check(p.returncode != 0 or '"ok"' not in p.stdout,
          "a certificate from another CA refused")
    check(d.stop() == 0, "mTLS daemon stops")


if __name__ == "__main__":
    main()
