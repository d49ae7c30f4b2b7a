// bench/tsmls_group.mjs: the ts-mls side of bench/group.  It runs the same
// group-engine operations as bench/group with ts-mls (1.6.4, as pinned in
// tests/interop/package.json) so that bench/group can print both figures from
// one run on one machine:
//   setup     one-to-one setup round trips/s: joiner KeyPackage, creator
//             KeyPackage + createGroup, commit Add (PublicMessage, ratchet
//             tree in the Welcome) with its Welcome, joinGroup;
//   protect   createApplicationMessage of 1 KiB in a 2-member group, msgs/s;
//   unprotect processPrivateMessage of those messages by the other member;
//   commit    an empty commit (ts-mls always adds the UpdatePath to an empty
//             commit) as a PublicMessage in a 2-member group: ms to create
//             (createCommit) and to process (processPublicMessage);
//   state     encodeGroupState / decodeGroupState of the 2-member state, µs
//             and bytes.
// Signature keys are made once per client and kept for its KeyPackages, as
// bench/group does (for ECDSA an uncompressed public key: the ts-mls 1.6.4
// workaround of tests/interop/tsmls_driver.mjs).  Each result is checked
// before it is timed (same epoch authenticator after join and commit, the
// message decrypts to its plaintext); timing is best of --runs runs of
// about --time seconds each (wall clock: Node has no per-thread CPU clock).
//
// Usage: node tsmls_group.mjs --dir DIR --suite N [--time S] [--runs R]
//   DIR holds node_modules/ts-mls (tests/interop.sh's npm ci, or
//   $MLSGATE_TSMLS_DIR).  Output: one JSON object on stdout
//   {"suite":N,"version":"1.6.4","setup_per_s":..,"protect_per_s":..,
//    "unprotect_per_s":..,"commit_create_ms":..,"commit_process_ms":..,
//    "state_bytes":..,"state_encode_us":..,"state_decode_us":..}
//   or {"error":"..."} with exit status 1.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const dir = arg("--dir", process.env.MLSGATE_TSMLS_DIR ?? ".");
const suiteId = Number(arg("--suite", "1"));
const runTime = Number(arg("--time", "0.5"));
const runs = Number(arg("--runs", "3"));

function die(msg) {
  process.stdout.write(JSON.stringify({ error: msg }) + "\n");
  process.exit(1);
}

let M, nist, version;
try {
  const req = createRequire(join(dir, "package.json"));
  const main = req.resolve("ts-mls");
  M = await import(pathToFileURL(main).href);
  nist = await import(pathToFileURL(req.resolve("@noble/curves/nist.js")).href);
  const pj = JSON.parse(readFileSync(join(dir, "node_modules", "ts-mls", "package.json"), "utf8"));
  version = pj.version;
} catch (e) {
  die(`cannot load ts-mls from ${dir}: ${e.message}`);
}

const names = Object.fromEntries(Object.entries(M.ciphersuites).map(([n, id]) => [id, n]));
if (names[suiteId] === undefined) die(`ts-mls has no suite ${suiteId}`);
const cs = await M.getCiphersuiteImpl(M.getCiphersuiteFromName(names[suiteId]));
const curve = { 2: nist.p256, 5: nist.p521, 7: nist.p384 }[suiteId];
const enc = new TextEncoder();
const eq = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

function signKeys() {
  if (curve === undefined) return undefined;
  const signKey = curve.utils.randomSecretKey();
  return { signKey, publicKey: curve.getPublicKey(signKey, false) };
}
async function keyPackage(name, keys) {
  const cred = { credentialType: "basic", identity: enc.encode(name) };
  if (keys === undefined) {
    return M.generateKeyPackage(cred, M.defaultCapabilities(), M.defaultLifetime, [], cs);
  }
  return M.generateKeyPackageWithKey(cred, M.defaultCapabilities(), M.defaultLifetime, [], keys, cs);
}

// For Ed25519 suites the first KeyPackage's keys are kept for the next ones.
async function client(name) {
  let keys = signKeys();
  if (keys === undefined) {
    const kp = await keyPackage(name, undefined);
    keys = { signKey: kp.privatePackage.signaturePrivateKey, publicKey: kp.publicPackage.leafNode.signaturePublicKey };
  }
  return { name, keys };
}

const alice = await client("alice");
const bob = await client("bob");
let gid = 0;

async function setup() {
  const bkp = await keyPackage("bob", bob.keys);
  const akp = await keyPackage("alice", alice.keys);
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, ++gid);
  const a0 = await M.createGroup(id, akp.publicPackage, akp.privatePackage, [], cs);
  const r = await M.createCommit({ state: a0, cipherSuite: cs },
    { extraProposals: [{ proposalType: "add", add: { keyPackage: bkp.publicPackage } }],
      ratchetTreeExtension: true, wireAsPublicMessage: true });
  const b = await M.joinGroup(r.welcome, bkp.publicPackage, bkp.privatePackage, M.makePskIndex(undefined, {}), cs);
  return [r.newState, b];
}

async function best(fn) {
  let top = 0;
  for (let r = 0; r < runs; r++) {
    let n = 0;
    const t0 = performance.now();
    let el = 0;
    do {
      n += await fn();
      el = (performance.now() - t0) / 1000;
    } while (el < runTime);
    top = Math.max(top, n / el);
  }
  return top;
}

try {
  // Checks first.
  let [a, b] = await setup();
  if (!eq(a.keySchedule.epochAuthenticator, b.keySchedule.epochAuthenticator)) die("setup: epoch authenticators differ");
  const data = new Uint8Array(1024).fill(0x61);
  {
    const p = await M.createApplicationMessage(a, data, cs);
    const r = await M.processPrivateMessage(b, p.privateMessage, M.makePskIndex(b, {}), cs, M.acceptAll);
    if (r.kind !== "applicationMessage" || !eq(r.message, data)) die("protect: round trip failed");
  }
  const c0 = await M.createCommit({ state: a, cipherSuite: cs }, { wireAsPublicMessage: true });
  {
    const r = await M.processPublicMessage(b, c0.commit.publicMessage, M.makePskIndex(b, {}), cs, M.acceptAll);
    if (!eq(r.newState.keySchedule.epochAuthenticator, c0.newState.keySchedule.epochAuthenticator)) die("commit: epoch authenticators differ");
  }

  const setupRate = await best(async () => { await setup(); return 1; });

  let sender = a;
  const protectRate = await best(async () => {
    const p = await M.createApplicationMessage(sender, data, cs);
    sender = p.newState;
    return 1;
  });
  // Unprotect: batches of messages made beforehand (untimed) by a fresh
  // sender state, processed in order by the receiver.
  const BATCH = 64;
  let unprotectRate = 0;
  for (let r = 0; r < runs; r++) {
    let n = 0, el = 0;
    while (el < runTime) {
      const [sa, sb] = await setup();
      let s = sa;
      const msgs = [];
      for (let i = 0; i < BATCH; i++) {
        const p = await M.createApplicationMessage(s, data, cs);
        s = p.newState;
        msgs.push(p.privateMessage);
      }
      let rcv = sb;
      const t0 = performance.now();
      for (const m of msgs) {
        const q = await M.processPrivateMessage(rcv, m, M.makePskIndex(rcv, {}), cs, M.acceptAll);
        rcv = q.newState;
      }
      el += (performance.now() - t0) / 1000;
      n += BATCH;
    }
    unprotectRate = Math.max(unprotectRate, n / el);
  }

  // State encoding of the 2-member group (encodeGroupState /
  // decodeGroupState), checked to round-trip to the same bytes.
  const stateBytes = M.encodeGroupState(a);
  {
    const d = M.decodeGroupState(stateBytes, 0);
    if (d === undefined || d[1] !== stateBytes.length || !eq(M.encodeGroupState(d[0]), stateBytes)) {
      die("state: decode(encode(state)) differs");
    }
  }
  const encodeRate = await best(async () => { M.encodeGroupState(a); return 1; });
  const decodeRate = await best(async () => { M.decodeGroupState(stateBytes, 0); return 1; });

  const createRate = await best(async () => {
    await M.createCommit({ state: a, cipherSuite: cs }, { wireAsPublicMessage: true });
    return 1;
  });
  const processRate = await best(async () => {
    await M.processPublicMessage(b, c0.commit.publicMessage, M.makePskIndex(b, {}), cs, M.acceptAll);
    return 1;
  });
  process.stdout.write(JSON.stringify({
    suite: suiteId, version, setup_per_s: setupRate, protect_per_s: protectRate,
    unprotect_per_s: unprotectRate, commit_create_ms: 1000 / createRate, commit_process_ms: 1000 / processRate,
    state_bytes: stateBytes.length, state_encode_us: 1e6 / encodeRate, state_decode_us: 1e6 / decodeRate,
  }) + "\n");
} catch (e) {
  die(`${e && e.constructor ? e.constructor.name : "Error"}: ${e && e.message}`);
}
