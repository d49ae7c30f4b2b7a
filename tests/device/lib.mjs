// Shared code of the device tests (tests/device/README.md): starting and
// stopping mlsgated, an HTTP/2 API client (Node's built-in http2), and a
// ts-mls "device" (the recipient's phone) with the client configuration the
// tests use.
import { spawn, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import http2 from "node:http2";
import { createInterface } from "node:readline";
import {
  acceptAll, ciphersuites, createApplicationMessage, createCommit, createGroup,
  decodeMlsMessage, defaultAuthenticationService, defaultCapabilities,
  defaultKeyPackageEqualityConfig, defaultKeyRetentionConfig, defaultLifetime,
  defaultLifetimeConfig, defaultPaddingConfig, emptyPskIndex, encodeMlsMessage,
  generateKeyPackage, generateKeyPackageWithKey, getCiphersuiteFromName, getCiphersuiteImpl,
  joinGroup, processPrivateMessage, processPublicMessage,
} from "ts-mls";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { p256, p384, p521 } from "@noble/curves/nist.js";

// ------------------------------------------------------------------ misc

export class TestFailure extends Error {}
export function check(cond, msg) {
  if (!cond) throw new TestFailure(msg);
}
export function eq(got, want, what) {
  if (got !== want) {
    throw new TestFailure(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}
export const b64 = (u8) => Buffer.from(u8).toString("base64");
export function unb64(s, what) {
  check(typeof s === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0,
    `${what}: not standard base64 with padding: ${JSON.stringify(s)?.slice(0, 80)}`);
  return new Uint8Array(Buffer.from(s, "base64"));
}
export const hex = (u8) => Buffer.from(u8).toString("hex");
export const sameBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A small seeded PRNG (mulberry32) so that a failing run can be replayed
// with the seed it printed.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Command-line options: --name value pairs.
export function parseArgs(argv, known) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith("--") || !known.includes(k.slice(2)) || i + 1 >= argv.length) {
      throw new Error(`usage: unknown or incomplete option ${k} (known: ${known.join(", ")})`);
    }
    o[k.slice(2)] = argv[++i];
  }
  return o;
}

// ---------------------------------------------------------- mlsgatectl

export function ctl(bin, args) {
  try {
    return execFileSync(bin, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new TestFailure(`mlsgatectl ${args.join(" ")} failed (exit ${e.status}): ${e.stderr}${e.stdout}`);
  }
}

// Initializes a store; returns { verifierKey, token }.
export function initStore(ctlBin, store) {
  const out = ctl(ctlBin, ["--store", store, "init"]);
  const verifierKey = out.trim().split("\n").pop().trim();
  check(/^mlsgate\.audit\/\S+\+[0-9a-f]+\+\S+$/.test(verifierKey),
    `mlsgatectl init printed no verifier key as last line: ${out}`);
  const tok = ctl(ctlBin, ["--store", store, "token", "create", "--name", "t", "--scopes",
    "conversations,messages,keys:admin,audit:read,metrics", "--json"]);
  let token;
  try { token = JSON.parse(tok).token; } catch { /* below */ }
  check(typeof token === "string" && token.length > 0, `token create --json printed no token: ${tok}`);
  return { verifierKey, token };
}

// ------------------------------------------------------------- mlsgated

// Every daemon still running is killed when this process ends, however it
// ends (an unhandled rejection, process.exit, SIGTERM/SIGINT from the
// wrapper's trap): a test never leaves an mlsgated behind.
const live = new Set();
process.on("exit", () => {
  for (const p of live) {
    try { p.kill("SIGKILL"); } catch { /* gone */ }
  }
});
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(sig, () => process.exit(1));
}

// One mlsgated process.  start() resolves with "127.0.0.1:PORT" once the
// daemon logged {"event":"listening"}; its stderr is kept (tail()) for
// failure reports.
export class Daemon {
  // |pidFile| (optional) receives the pid of every process started, so
  // that the shell wrapper can kill a daemon this script left behind.
  // |keepLog|: keep every log line of every run in |allLines| (for the
  // check that the log holds no plaintext or secret).
  constructor(bin, store, { extra = [], pidFile, keepLog = false } = {}) {
    this.pidFile = pidFile;
    this.allLines = keepLog ? [] : undefined;
    this.bin = bin;
    this.store = store;
    this.extra = extra;
    this.proc = undefined;
    this.lines = [];
    this.exited = undefined; // Promise of {code, signal}
  }

  start(timeoutMs = 30000) {
    const args = ["--store", this.store, "--listen", "127.0.0.1:0", ...this.extra];
    this.lines = [];
    const p = spawn(this.bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = p;
    if (this.pidFile !== undefined && p.pid !== undefined) writeFileSync(this.pidFile, `${p.pid}\n`);
    live.add(p);
    this.exited = new Promise((resolve) => p.on("exit", (code, signal) => {
      live.delete(p);
      resolve({ code, signal });
    }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new TestFailure(`mlsgated did not log "listening" within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      p.on("error", (e) => { clearTimeout(timer); reject(new TestFailure(`cannot run ${this.bin}: ${e.message}`)); });
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new TestFailure(`mlsgated exited (code ${code}, signal ${signal}) before listening:\n${this.tail()}`));
      });
      createInterface({ input: p.stderr, crlfDelay: Infinity }).on("line", (line) => {
        this.lines.push(line);
        this.allLines?.push(line);
        if (this.lines.length > 400) this.lines.shift();
        let ev;
        try { ev = JSON.parse(line); } catch { return; }
        if (ev && ev.event === "listening" && typeof ev.address === "string") {
          clearTimeout(timer);
          this.address = ev.address;
          resolve(ev.address);
        }
      });
    });
  }

  // The last |n| log lines, leaving out the access log of successful
  // requests (one line per request would hide everything else).
  tail(n = 30) {
    const useful = this.lines.filter((l) => !/"event":"request".*"status":"2\d\d"/.test(l));
    return useful.slice(-n).map((l) => `  mlsgated: ${l}`).join("\n");
  }

  get running() {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  // SIGKILL; resolves when the process is gone.
  async kill() {
    if (this.running) this.proc.kill("SIGKILL");
    if (this.exited) await this.exited;
  }

  // SIGTERM (graceful); fails unless the daemon exits 0 within timeoutMs.
  async stop(timeoutMs = 20000) {
    if (!this.running) {
      const r = await this.exited;
      throw new TestFailure(`mlsgated was not running at stop (code ${r.code}, signal ${r.signal}):\n${this.tail()}`);
    }
    this.proc.kill("SIGTERM");
    let timer;
    const r = await Promise.race([
      this.exited,
      new Promise((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (r === undefined) {
      await this.kill();
      throw new TestFailure(`mlsgated did not stop within ${timeoutMs} ms of SIGTERM:\n${this.tail()}`);
    }
    check(r.code === 0, `mlsgated exited with code ${r.code} signal ${r.signal} after SIGTERM:\n${this.tail()}`);
  }
}

// ------------------------------------------------------------ HTTP/2 API

// An h2c client with a bearer token.  req() resolves with
// { status, headers, body: Buffer, json } or rejects when the stream or
// the connection fails (e.g. the daemon was killed).
export class Api {
  constructor(address, token) {
    this.token = token;
    this.session = http2.connect(`http://${address}`);
    this.closed = false;
    this.session.on("error", () => { this.closed = true; });
    this.session.on("close", () => { this.closed = true; });
  }

  req(method, path, body, { headers = {}, timeoutMs = 30000, auth = true } = {}) {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error("connection closed"));
        return;
      }
      const h = { ":method": method, ":path": path, ...headers };
      if (auth) h.authorization = `Bearer ${this.token}`;
      let payload;
      if (body !== undefined) {
        payload = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
        h["content-type"] = "application/json";
      }
      let st;
      try {
        st = this.session.request(h, { endStream: payload === undefined });
      } catch (e) {
        reject(e);
        return;
      }
      const chunks = [];
      let resHeaders;
      const timer = setTimeout(() => {
        st.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`${method} ${path}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      st.on("response", (hd) => { resHeaders = hd; });
      st.on("data", (c) => chunks.push(c));
      st.on("error", (e) => { clearTimeout(timer); reject(e); });
      st.on("close", () => {
        clearTimeout(timer);
        if (resHeaders === undefined || st.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
          reject(new Error(`${method} ${path}: stream closed without a complete response (rst ${st.rstCode})`));
          return;
        }
        const buf = Buffer.concat(chunks);
        // api-spec: every response carries x-request-id (32 hex digits).
        const rid = resHeaders["x-request-id"];
        if (typeof rid !== "string" || !/^[0-9a-f]{32}$/.test(rid)) {
          reject(new TestFailure(`${method} ${path}: ${resHeaders[":status"]} response without a valid x-request-id (${rid})`));
          return;
        }
        let json;
        const ct = String(resHeaders["content-type"] ?? "");
        if (ct.includes("json") && buf.length > 0) {
          try { json = JSON.parse(buf.toString("utf8")); } catch { json = undefined; }
        }
        resolve({ status: resHeaders[":status"], headers: resHeaders, body: buf, json });
      });
      if (payload !== undefined) st.end(payload);
    });
  }

  // req() and require the status; returns the parsed JSON body (or the
  // response for bodiless answers).
  async expect(status, method, path, body, opts) {
    const r = await this.req(method, path, body, opts);
    if (r.status !== status) {
      throw new TestFailure(`${method} ${path}: status ${r.status}, want ${status}: ${r.body.toString("utf8").slice(0, 600)}`);
    }
    if (status === 204) return r;
    check(r.json !== undefined && typeof r.json === "object",
      `${method} ${path}: ${status} response is not a JSON object (content-type ${r.headers["content-type"]}): ${r.body.toString("utf8").slice(0, 300)}`);
    return r.json;
  }

  close() {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
    this.closed = true;
  }

  destroy() {
    this.session.destroy();
    this.closed = true;
  }
}

// ---------------------------------------------------------------- device

const suiteNames = Object.fromEntries(Object.entries(ciphersuites).map(([n, id]) => [id, n]));
const ecdsaCurves = { 2: p256, 5: p521, 7: p384 };
const impls = new Map();
export async function suiteImpl(id) {
  if (!impls.has(id)) {
    if (suiteNames[id] === undefined) throw new TestFailure(`ts-mls knows no cipher suite ${id}`);
    impls.set(id, await getCiphersuiteImpl(getCiphersuiteFromName(suiteNames[id])));
  }
  return impls.get(id);
}

// The device's ts-mls client configuration.  mlsgated reserves sending
// generations in leases (64 by default) and resumes past the reserved block
// after a crash, so a device sees generation gaps; ts-mls refuses a message
// more than keyRetentionConfig.maximumForwardRatchetSteps generations ahead
// of its ratchet (default 200).  The crash test needs more than one lease
// per gap when a conversation had no acknowledged message between two
// crashes, hence the larger value.
export const MAX_FORWARD = 4096;
export const DEFAULT_MAX_FORWARD = defaultKeyRetentionConfig.maximumForwardRatchetSteps;
export function clientConfig(maxForward = MAX_FORWARD) {
  return {
    keyRetentionConfig: { ...defaultKeyRetentionConfig, maximumForwardRatchetSteps: maxForward },
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService: defaultAuthenticationService,
  };
}

export const encodeMessage = (m) => encodeMlsMessage(m);
export function decodeMessage(bytes, what) {
  const d = decodeMlsMessage(bytes, 0);
  check(d !== undefined && d[1] === bytes.length, `${what}: not an MLSMessage`);
  return d[0];
}

// The KeyPackageRef (RFC 9420 §5.2) of a KeyPackage MLSMessage, by ts-mls.
export async function keyPackageRef(kpBytes, suite) {
  const m = decodeMessage(kpBytes, "key_package");
  eq(m.wireformat, "mls_key_package", "key_package wire format");
  return makeKeyPackageRef(m.keyPackage, (await suiteImpl(suite)).hash);
}

// Credential encoding (RFC 9420 §5.3) of a basic credential.
export function basicCredentialBytes(identity) {
  const n = identity.length;
  let len;
  if (n < 64) len = [n];
  else if (n < 16384) len = [0x40 | (n >> 8), n & 0xff];
  else throw new Error("identity too long");
  return new Uint8Array([0, 1, ...len, ...identity]);
}

export class Device {
  constructor(suite, impl, name, config) {
    this.suite = suite;
    this.impl = impl;
    this.name = name;
    this.identity = new TextEncoder().encode(name);
    this.config = config;
    this.pending = [];
    this.state = undefined;
    const curve = ecdsaCurves[suite];
    // ts-mls 1.6.4 makes compressed ECDSA public keys (tests/interop/
    // README.md); RFC 9420 §5.1.1 wants uncompressed ones.
    if (curve !== undefined) {
      const signKey = curve.utils.randomSecretKey();
      this.signKeys = { signKey, publicKey: curve.getPublicKey(signKey, false) };
    }
  }

  static async create(suite, name, config = clientConfig()) {
    return new Device(suite, await suiteImpl(suite), name, config);
  }

  async #keyPackage() {
    const cred = { credentialType: "basic", identity: this.identity };
    return this.signKeys === undefined
      ? generateKeyPackage(cred, defaultCapabilities(), defaultLifetime, [], this.impl)
      : generateKeyPackageWithKey(cred, defaultCapabilities(), defaultLifetime, [], this.signKeys, this.impl);
  }

  // A fresh KeyPackage as an MLSMessage (bytes); its private part is kept.
  async newKeyPackage() {
    const kp = await this.#keyPackage();
    this.pending.push(kp);
    return encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
  }

  // Joins from a Welcome MLSMessage and an optional<Node> ratchet_tree<V>.
  async join(welcomeBytes, treeBytes) {
    const m = decodeMessage(welcomeBytes, "welcome");
    eq(m.wireformat, "mls_welcome", "welcome wire format");
    let tree;
    if (treeBytes !== undefined) {
      const d = decodeRatchetTree(treeBytes, 0);
      check(d !== undefined && d[1] === treeBytes.length, "ratchet_tree does not decode with ts-mls");
      tree = d[0];
    }
    for (const [i, kp] of this.pending.entries()) {
      const ref = await makeKeyPackageRef(kp.publicPackage, this.impl.hash);
      if (!m.welcome.secrets.some((s) => sameBytes(s.newMember, ref))) continue;
      this.state = await joinGroup(m.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex,
        this.impl, tree, undefined, this.config);
      this.pending.splice(i, 1);
      return;
    }
    throw new TestFailure("the Welcome has no secrets for any KeyPackage of the device");
  }

  async createGroup(groupId) {
    const kp = await this.#keyPackage();
    this.state = await createGroup(groupId, kp.publicPackage, kp.privatePackage, [], this.impl, this.config);
  }

  // Commits an Add of |kpBytes| (a KeyPackage MLSMessage); returns
  // { commit, welcome, ratchetTree } as bytes (tree out of band).
  async add(kpBytes) {
    const m = decodeMessage(kpBytes, "key_package");
    eq(m.wireformat, "mls_key_package", "key_package wire format");
    const r = await createCommit({ state: this.state, cipherSuite: this.impl },
      { extraProposals: [{ proposalType: "add", add: { keyPackage: m.keyPackage } }], ratchetTreeExtension: false });
    this.state = r.newState;
    check(r.welcome !== undefined, "ts-mls made no Welcome for an Add");
    return {
      commit: encodeMlsMessage(r.commit),
      welcome: encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: r.welcome }),
      ratchetTree: encodeRatchetTree(this.state.ratchetTree),
    };
  }

  // An empty commit with a fresh path (a full update of our leaf).
  async commitUpdate() {
    const r = await createCommit({ state: this.state, cipherSuite: this.impl }, { extraProposals: [] });
    this.state = r.newState;
    return encodeMlsMessage(r.commit);
  }

  // A commit removing the member at |leaf| (with a path, RFC 9420 §12.4).
  async commitRemove(leaf) {
    const r = await createCommit({ state: this.state, cipherSuite: this.impl },
      { extraProposals: [{ proposalType: "remove", remove: { removed: leaf } }] });
    this.state = r.newState;
    return encodeMlsMessage(r.commit);
  }

  async encrypt(plaintext, aad = new Uint8Array()) {
    const r = await createApplicationMessage(this.state, plaintext, this.impl, aad);
    this.state = r.newState;
    return encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: r.privateMessage });
  }

  // Processes one MLSMessage.  Returns { kind: "application", data,
  // epoch, generation, senderLeaf } or { kind: "commit"|"proposal", epoch }.
  // The state is only replaced on success.
  async process(bytes) {
    const m = decodeMessage(bytes, "message");
    if (m.wireformat === "mls_private_message") {
      const pm = m.privateMessage;
      const cur = this.epoch;
      const sds = Number(pm.epoch) === cur ? this.state.keySchedule.senderDataSecret
        : this.state.historicalReceiverData.get(pm.epoch)?.senderDataSecret;
      check(sds !== undefined, `message of epoch ${pm.epoch}, device at epoch ${cur}`);
      const sd = await decryptSenderData(pm, sds, this.impl);
      check(sd !== undefined, "sender data does not decrypt");
      const r = await processPrivateMessage(this.state, pm, emptyPskIndex, this.impl, acceptAll);
      this.state = r.newState;
      if (r.kind === "applicationMessage") {
        return { kind: "application", data: r.message, epoch: Number(pm.epoch), generation: sd.generation,
          senderLeaf: sd.leafIndex, authenticatedData: pm.authenticatedData };
      }
      return { kind: this.epoch !== cur ? "commit" : "proposal", epoch: this.epoch, senderLeaf: sd.leafIndex };
    }
    if (m.wireformat === "mls_public_message") {
      const cur = this.epoch;
      const r = await processPublicMessage(this.state, m.publicMessage, emptyPskIndex, this.impl, acceptAll);
      this.state = r.newState;
      return { kind: this.epoch !== cur ? "commit" : "proposal", epoch: this.epoch };
    }
    throw new TestFailure(`device cannot process a ${m.wireformat}`);
  }

  get epoch() { return Number(this.state.groupContext.epoch); }
  get leafIndex() { return this.state.privatePath.leafIndex; }
  get epochAuthenticator() { return this.state.keySchedule.epochAuthenticator; }
  get groupId() { return this.state.groupContext.groupId; }

  // The leaf node at |leaf| in the device's tree (or undefined).
  leaf(leaf) {
    const n = this.state.ratchetTree[2 * leaf];
    return n !== undefined && n.nodeType === "leaf" ? n.leaf : undefined;
  }
}
