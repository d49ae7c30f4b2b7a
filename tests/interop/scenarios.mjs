// Live interop scenarios (tests/interop/README.md, "Live scenarios"): ts-mls
// is one party, a driver program speaking the line-delimited JSON protocol of
// the README is the other (tests/interop_driver with our group engine, or
// tsmls_driver.mjs, the same protocol implemented with ts-mls).
//
// Usage: node scenarios.mjs --driver CMD [ARG...] [--suites 1,2,...] [--timeout SECONDS]
//
// Per suite: 1. ts-mls creates the group, the driver's client joins;
// 2. the driver's client creates the group, ts-mls clients join (commits by
// value and by reference, external PSKs); 3. out-of-order and late
// application messages and replays.  After every epoch change the epoch
// authenticators, an exporter value and the member lists of both sides must
// agree.  Prints one line per scenario and suite; exits 0 when all pass, 1 on
// any failure (the message names the scenario, suite, step and side).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import {
  acceptAll, ciphersuites, createApplicationMessage, createCommit, createGroup, createProposal,
  decodeMlsMessage, defaultCapabilities, defaultLifetime, encodeMlsMessage, generateKeyPackage,
  generateKeyPackageWithKey, getCiphersuiteFromName, getCiphersuiteImpl, joinGroup, makePskIndex,
  mlsExporter, processPrivateMessage, processPublicMessage,
} from "ts-mls";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { p256, p384, p521 } from "@noble/curves/nist.js";

// ---------------------------------------------------------------- arguments
function usage(msg) {
  if (msg) console.error(`scenarios: ${msg}`);
  console.error("usage: node scenarios.mjs --driver CMD [ARG...] [--suites 1,2,...] [--timeout SECONDS]");
  process.exit(2);
}
const argv = process.argv.slice(2);
let driverCmd = null;
let suites = [1, 2, 3, 4, 5, 6, 7];
let timeoutMs = 30000;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--suites") {
    suites = String(argv[++i] ?? "").split(",").filter((s) => s !== "").map(Number);
    if (suites.length === 0 || suites.some((s) => !Number.isInteger(s))) usage("--suites: list of suite numbers");
  } else if (argv[i] === "--timeout") {
    timeoutMs = Number(argv[++i]) * 1000;
    if (!(timeoutMs > 0)) usage("--timeout: seconds");
  } else if (argv[i] === "--driver") {
    const rest = [];
    for (i++; i < argv.length && argv[i] !== "--suites" && argv[i] !== "--timeout"; i++) rest.push(argv[i]);
    i--;
    if (rest.length === 0) usage("--driver needs a command");
    driverCmd = rest;
  } else {
    usage(`unknown argument ${argv[i]}`);
  }
}
if (driverCmd === null) usage("--driver is required");

// ---------------------------------------------------------------- helpers
const hex = (u8) => Buffer.from(u8).toString("hex");
const unhex = (s) => new Uint8Array(Buffer.from(s, "hex"));
const utf8 = (s) => new TextEncoder().encode(s);
const rnd = (n) => new Uint8Array(randomBytes(n));
const enc = (m) => hex(encodeMlsMessage(m));
const isHex = (s) => typeof s === "string" && s.length % 2 === 0 && /^[0-9a-f]*$/.test(s);

class Failure extends Error {}
let step = "";                       // current step, for failure messages
const setStep = (s) => { step = s; };
function check(cond, msg) { if (!cond) throw new Failure(msg); }
function eq(got, want, what) {
  if (got !== want) throw new Failure(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}
function decodeMsg(h, what) {
  check(isHex(h), `${what}: not lowercase hex (${JSON.stringify(h)?.slice(0, 40)})`);
  const b = unhex(h);
  const d = decodeMlsMessage(b, 0);
  check(d !== undefined && d[1] === b.length, `${what}: ts-mls cannot decode it as an MLSMessage`);
  return d[0];
}

// ---------------------------------------------------------------- driver
class DriverDown extends Error {}
class Driver {
  constructor(cmd) {
    this.nextId = 1;
    this.waiting = null;
    this.stray = [];
    this.down = null;
    this.proc = spawn(cmd[0], cmd.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
    this.proc.stdin.on("error", () => { /* reported through exit / timeout */ });
    this.exited = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => {
        this.exitCode = code;
        this.gone(`driver exited (code ${code}, signal ${signal})`);
        resolve();
      });
    });
    this.proc.on("error", (e) => this.gone(`cannot run driver ${cmd.join(" ")}: ${e.message}`));
    createInterface({ input: this.proc.stdout, crlfDelay: Infinity }).on("line", (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w.resolve(line);
      } else {
        this.stray.push(line);
      }
    });
  }
  gone(why) {
    if (this.down === null) this.down = why;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w.reject(new DriverDown(why));
    }
  }
  // Sends one request; returns the response object (ok or not).
  async call(cmd, fields = {}) {
    if (this.down !== null) throw new DriverDown(this.down);
    if (this.stray.length) {
      const s = this.stray.splice(0);
      this.down = `protocol broken: driver wrote output that is not a response: ${s.join(" | ").slice(0, 200)}`;
      throw new DriverDown(this.down);
    }
    const id = this.nextId++;
    const line = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        this.down = `no response to ${cmd} (id ${id}) within ${timeoutMs / 1000} s`;
        reject(new DriverDown(this.down));
      }, timeoutMs);
      this.waiting = {
        resolve: (l) => { clearTimeout(timer); resolve(l); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.proc.stdin.write(JSON.stringify({ id, cmd, ...fields }) + "\n");
    });
    // A line that is not the response to this request breaks the protocol
    // for good (every later response would be misattributed): stop here.
    const broken = (why) => {
      this.down = `protocol broken: ${why}`;
      return new DriverDown(this.down);
    };
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      throw broken(`driver response to ${cmd} is not JSON: ${line.slice(0, 200)}`);
    }
    if (r === null || typeof r !== "object" || Array.isArray(r)) throw broken(`driver response to ${cmd} is not an object`);
    if (r.id !== id) throw broken(`driver response to ${cmd} has id ${JSON.stringify(r.id)}, expected ${id}`);
    check(typeof r.ok === "boolean", `driver response to ${cmd}: "ok" missing`);
    if (!r.ok) {
      check(Number.isInteger(r.error) && r.error < 0, `driver error response to ${cmd}: "error" must be a negative mg_err code, got ${JSON.stringify(r.error)}`);
      check(typeof r.msg === "string", `driver error response to ${cmd}: "msg" missing`);
    }
    return r;
  }
  async ok(cmd, fields) {
    const r = await this.call(cmd, fields);
    if (!r.ok) throw new Failure(`driver ${cmd} failed: error ${r.error} (${r.msg})`);
    return r;
  }
  async refuses(cmd, fields, what) {
    const r = await this.call(cmd, fields);
    if (r.ok) throw new Failure(`driver accepted ${what} (${cmd} answered ok: ${JSON.stringify(r).slice(0, 200)})`);
    return r;
  }
  async quit() {
    if (this.down !== null) {
      if (this.proc.exitCode === null) this.proc.kill();
      return false;
    }
    try {
      await this.ok("quit");
    } catch {
      this.proc.kill();
      return false;
    }
    const t = setTimeout(() => this.proc.kill(), 5000);
    await this.exited;
    clearTimeout(t);
    return this.exitCode === 0;
  }
}

// ---------------------------------------------------------------- ts-mls side
const names = Object.fromEntries(Object.entries(ciphersuites).map(([n, id]) => [id, n]));
const ecdsaCurves = { 2: p256, 5: p521, 7: p384 };

class Ts {
  constructor(name, suite, impl) {
    this.name = name;
    this.suite = suite;
    this.impl = impl;
    this.psks = {};
    this.pskLookups = 0;
    this.state = undefined;
  }
  // ts-mls 1.6.4 makes compressed ECDSA public keys (README): the ECDSA
  // suites get a key pair with the uncompressed public key instead.
  async keyPackage() {
    const cred = { credentialType: "basic", identity: utf8(this.name) };
    const curve = ecdsaCurves[this.suite];
    if (curve === undefined) {
      this.kp = await generateKeyPackage(cred, defaultCapabilities(), defaultLifetime, [], this.impl);
    } else {
      const signKey = curve.utils.randomSecretKey();
      this.kp = await generateKeyPackageWithKey(cred, defaultCapabilities(), defaultLifetime, [],
        { signKey, publicKey: curve.getPublicKey(signKey, false) }, this.impl);
    }
    return enc({ version: "mls10", wireformat: "mls_key_package", keyPackage: this.kp.publicPackage });
  }
  async createGroup(groupId) {
    await this.keyPackage();
    this.state = await createGroup(groupId, this.kp.publicPackage, this.kp.privatePackage, [], this.impl);
  }
  async join(welcomeHex, treeHex) {
    const m = decodeMsg(welcomeHex, "welcome");
    eq(m.wireformat, "mls_welcome", "welcome wire format");
    const tree = treeHex === undefined ? undefined : decodeRatchetTree(unhex(treeHex), 0)?.[0];
    check(treeHex === undefined || tree !== undefined, "ratchet_tree: ts-mls cannot decode it");
    this.state = await joinGroup(m.welcome, this.kp.publicPackage, this.kp.privatePackage, this.pskIndex(), this.impl, tree);
  }
  pskIndex() {
    const inner = makePskIndex(this.state, this.psks);
    return { findPsk: (id) => { this.pskLookups++; return inner.findPsk(id); } };
  }
  get epoch() { return Number(this.state.groupContext.epoch); }
  get leaf() { return this.state.privatePath.leafIndex; }
  get authenticator() { return hex(this.state.keySchedule.epochAuthenticator); }
  async send(data, aad = new Uint8Array()) {
    const r = await createApplicationMessage(this.state, data, this.impl, aad);
    this.state = r.newState;
    return enc({ version: "mls10", wireformat: "mls_private_message", privateMessage: r.privateMessage });
  }
  // Sender data of one of our own PrivateMessages (generation, leaf).
  async senderData(h) {
    const pm = decodeMsg(h, "own message").privateMessage;
    return decryptSenderData(pm, this.state.keySchedule.senderDataSecret, this.impl);
  }
  // Processes an inbound message (PrivateMessage through processPrivateMessage
  // with our PSK index: ts-mls's processMessage passes emptyPskIndex for it).
  async receive(h) {
    const m = decodeMsg(h, `message to ts-mls ${this.name}`);
    const before = this.epoch;
    let r;
    if (m.wireformat === "mls_private_message") {
      r = await processPrivateMessage(this.state, m.privateMessage, this.pskIndex(), this.impl, acceptAll);
    } else if (m.wireformat === "mls_public_message") {
      r = await processPublicMessage(this.state, m.publicMessage, this.pskIndex(), this.impl, acceptAll);
    } else {
      throw new Failure(`ts-mls ${this.name} got a ${m.wireformat} to process`);
    }
    this.state = r.newState;
    if (r.kind === "applicationMessage") {
      return { kind: "application", data: hex(r.message), aad: hex(m.privateMessage.authenticatedData) };
    }
    check(r.actionTaken === "accept", `ts-mls ${this.name}: message not accepted`);
    if (this.state.groupActiveState.kind === "removedFromGroup") return { kind: "removed" };
    return { kind: this.epoch !== before ? "commit" : "proposal", msg: m };
  }
  async commit({ proposals = [], treeExt = true, pub = false } = {}) {
    const r = await createCommit({ state: this.state, cipherSuite: this.impl, pskIndex: this.pskIndex() },
      { extraProposals: proposals, ratchetTreeExtension: treeExt, wireAsPublicMessage: pub });
    this.state = r.newState;
    return {
      commit: enc(r.commit),
      welcome: r.welcome && enc({ version: "mls10", wireformat: "mls_welcome", welcome: r.welcome }),
      tree: hex(encodeRatchetTree(this.state.ratchetTree)),
    };
  }
  async propose(proposal, pub = false) {
    const r = await createProposal(this.state, pub, proposal, this.impl);
    this.state = r.newState;
    return enc(r.message);
  }
  pskProposal(id) {
    return { proposalType: "psk", psk: { preSharedKeyId: { psktype: "external", pskId: id,
      pskNonce: rnd(this.impl.kdf.size) } } };
  }
  members() {
    const out = [];
    this.state.ratchetTree.forEach((n, i) => {
      if (i % 2 === 0 && n !== undefined && n.nodeType === "leaf") {
        out.push({ leaf: i / 2, identity: hex(n.leaf.credential.identity), signature_key: hex(n.leaf.signaturePublicKey) });
      }
    });
    return out;
  }
}

// ---------------------------------------------------------------- shared steps
// One epoch's agreement: epoch number, epoch authenticator, an exporter
// value and the member list of the driver's client and every ts-mls member.
async function agree(ctx, epoch) {
  const { drv, me, ts } = ctx;
  const ea = await drv.ok("epoch_authenticator", { client: me });
  eq(ea.epoch, epoch, `driver ${me} epoch`);
  check(isHex(ea.value) && ea.value.length > 0, `driver ${me} epoch authenticator is not hex`);
  for (const t of ts) {
    eq(t.epoch, epoch, `ts-mls ${t.name} epoch`);
    eq(ea.value, t.authenticator, `epoch ${epoch} authenticator, driver ${me} vs ts-mls ${t.name}`);
  }
  const context = hex(utf8(`epoch ${epoch}`));
  const ex = await drv.ok("export_secret", { client: me, label: "mlsgate interop", context, length: 32 });
  const want = hex(await mlsExporter(ts[0].state.keySchedule.exporterSecret, "mlsgate interop", unhex(context), 32, ts[0].impl));
  eq(ex.value, want, `epoch ${epoch} exporter value, driver ${me} vs ts-mls ${ts[0].name}`);
  const mem = await drv.ok("members", { client: me });
  check(Array.isArray(mem.members), `driver ${me} members: not a list`);
  const got = mem.members.map((m) => ({ leaf: m.leaf, identity: m.identity, signature_key: m.signature_key }))
    .sort((a, b) => a.leaf - b.leaf);
  eq(JSON.stringify(got), JSON.stringify(ts[0].members()), `epoch ${epoch} members, driver ${me} vs ts-mls ${ts[0].name}`);
  ctx.epoch = epoch;
  ctx.lo = Math.min(ctx.lo ?? epoch, epoch);
  ctx.hi = Math.max(ctx.hi ?? epoch, epoch);
}

// A ts-mls message to the driver's client through `cmd` (unprotect/process).
async function tsToDriver(ctx, from, cmd, data = rnd(24), aad = rnd(5)) {
  const { drv, me } = ctx;
  setStep(`ts-mls ${from.name} -> driver ${me} application message (${cmd})`);
  const msg = await from.send(data, aad);
  const sd = await from.senderData(msg);
  const r = await drv.ok(cmd, { client: me, message: msg });
  if (cmd === "process") eq(r.kind, "application", `driver ${me} process: kind`);
  eq(r.data, hex(data), `driver ${me} ${cmd}: decrypted bytes`);
  eq(r.sender_leaf, from.leaf, `driver ${me} ${cmd}: sender_leaf`);
  eq(r.epoch, from.epoch, `driver ${me} ${cmd}: epoch`);
  if (cmd === "unprotect") {
    eq(r.generation, sd.generation, `driver ${me} unprotect: generation`);
    eq(r.authenticated_data, hex(aad), `driver ${me} unprotect: authenticated_data`);
  }
  // Other ts-mls members read it too.
  for (const t of ctx.ts) {
    if (t === from) continue;
    const x = await t.receive(msg);
    eq(x.data, hex(data), `ts-mls ${t.name}: decrypted bytes of ${from.name}'s message`);
  }
  return msg;
}

// A driver message to every ts-mls member.
async function driverToTs(ctx, data = rnd(24), aad = rnd(3)) {
  const { drv, me } = ctx;
  setStep(`driver ${me} -> ts-mls application message`);
  const r = await drv.ok("protect", { client: me, data: hex(data), authenticated_data: hex(aad) });
  const m = decodeMsg(r.message, `driver ${me} protect: message`);
  eq(m.wireformat, "mls_private_message", `driver ${me} protect: wire format`);
  for (const t of ctx.ts) {
    setStep(`driver ${me} -> ts-mls ${t.name} application message`);
    const x = await t.receive(r.message);
    eq(x.kind, "application", `ts-mls ${t.name}: kind of the driver's message`);
    eq(x.data, hex(data), `ts-mls ${t.name}: decrypted bytes of the driver's message`);
    eq(x.aad, hex(aad), `ts-mls ${t.name}: authenticated_data of the driver's message`);
  }
  return r.message;
}

async function bothWays(ctx, cmd) {
  for (const t of ctx.ts) await tsToDriver(ctx, t, cmd);
  await driverToTs(ctx);
}

// A commit made by ts-mls member `by`, processed by the driver and the others.
async function tsCommit(ctx, by, opts, what) {
  setStep(`ts-mls ${by.name} commits (${what})`);
  const before = by.epoch;
  const c = await by.commit(opts);
  setStep(`driver ${ctx.me} processes ts-mls ${by.name}'s commit (${what})`);
  const r = await ctx.drv.ok("process", { client: ctx.me, message: c.commit });
  eq(r.kind, "commit", `driver ${ctx.me} process: kind`);
  eq(r.epoch, before + 1, `driver ${ctx.me} process: epoch`);
  for (const t of ctx.ts) {
    if (t === by) continue;
    setStep(`ts-mls ${t.name} processes ${by.name}'s commit (${what})`);
    await t.receive(c.commit);
  }
  setStep(`agreement after ts-mls ${by.name}'s commit (${what})`);
  await agree(ctx, before + 1);
  return c;
}

// A commit made by the driver, processed by every ts-mls member.
async function driverCommit(ctx, fields, what, removed = []) {
  setStep(`driver ${ctx.me} commits (${what})`);
  const before = ctx.epoch;
  const r = await ctx.drv.ok(fields.key_packages ? "add" : "commit", { client: ctx.me, ...fields });
  eq(r.epoch, before + 1, `driver ${ctx.me} commit: epoch`);
  const m = decodeMsg(r.commit, `driver ${ctx.me} commit`);
  eq(m.wireformat, fields.public ? "mls_public_message" : "mls_private_message", `driver ${ctx.me} commit: wire format`);
  for (const t of [...ctx.ts, ...removed]) {
    setStep(`ts-mls ${t.name} processes driver ${ctx.me}'s commit (${what})`);
    const x = await t.receive(r.commit);
    eq(x.kind, removed.includes(t) ? "removed" : "commit", `ts-mls ${t.name}: outcome of the driver's commit`);
  }
  ctx.ts = ctx.ts.filter((t) => !removed.includes(t));
  return { r, m };
}

const impls = new Map();
async function tsSide(suite, name) {
  if (!impls.has(suite)) impls.set(suite, await getCiphersuiteImpl(getCiphersuiteFromName(names[suite])));
  return new Ts(name, suite, impls.get(suite));
}

// ts-mls alice creates a group, the driver's client joins it (plus `extra`
// ts-mls members added in the same commit).  Returns the context.
async function tsCreatesDriverJoins(drv, suite, tag, extraNames, treeExt) {
  const me = `${tag}-bob`;
  const alice = await tsSide(suite, `${tag}-alice`);
  const extra = await Promise.all(extraNames.map((n) => tsSide(suite, `${tag}-${n}`)));
  const ctx = { drv, me, ts: [alice, ...extra] };
  setStep("ts-mls alice creates the group");
  const gid = utf8(`mlsgate-${tag}`);
  await alice.createGroup(gid);
  setStep(`driver create_key_package ${me}`);
  const kp = await drv.ok("create_key_package", { client: me, suite, identity: hex(utf8(me)) });
  const kpm = decodeMsg(kp.key_package, `driver ${me} key_package`);
  eq(kpm.wireformat, "mls_key_package", "driver key_package: wire format");
  eq(kpm.keyPackage.cipherSuite, names[suite], "driver key_package: cipher suite");
  const extraKps = [];
  for (const t of extra) { await t.keyPackage(); extraKps.push(t.kp.publicPackage); }
  setStep(`ts-mls alice adds driver ${me}${extra.length ? " and " + extra.map((t) => t.name).join(", ") : ""} (tree ${treeExt ? "in the Welcome" : "out of band"})`);
  const adds = [kpm.keyPackage, ...extraKps].map((k) => ({ proposalType: "add", add: { keyPackage: k } }));
  const c = await alice.commit({ proposals: adds, treeExt, pub: true });
  setStep(`driver ${me} joins from ts-mls's Welcome`);
  const j = await drv.ok("join", treeExt ? { client: me, welcome: c.welcome } : { client: me, welcome: c.welcome, ratchet_tree: c.tree });
  eq(j.group_id, hex(gid), `driver ${me} join: group_id`);
  eq(j.epoch, 1, `driver ${me} join: epoch`);
  eq(j.my_leaf, 1, `driver ${me} join: my_leaf`);
  for (const t of extra) {
    setStep(`ts-mls ${t.name} joins`);
    await t.join(c.welcome, treeExt ? undefined : c.tree);
  }
  setStep("agreement after the join");
  await agree(ctx, 1);
  return ctx;
}

// ---------------------------------------------------------------- scenarios
// 1. ts-mls creates, the driver's client joins; commits by ts-mls (Private
// and PublicMessage), by the driver, a remove by reference, then the
// driver's client is removed.
async function scenario1(drv, suite) {
  const ctx = await tsCreatesDriverJoins(drv, suite, `s1-${suite}`, ["carol"], suite % 2 === 1);
  const [alice, carol] = ctx.ts;
  const me = ctx.me;
  await bothWays(ctx, "unprotect");
  const c2 = await tsCommit(ctx, alice, {}, "empty commit with path, PrivateMessage");
  setStep(`driver ${me} refuses a replay of alice's commit`);
  await drv.refuses("process", { client: me, message: c2.commit }, "a replayed commit");
  await agree(ctx, 2);
  await tsCommit(ctx, carol, { pub: true }, "empty commit with path, PublicMessage");
  await bothWays(ctx, "unprotect");
  const d = await driverCommit(ctx, {}, "empty commit with path");
  check(d.r.welcome === undefined || d.r.welcome === null, `driver ${me} commit without adds: unexpected welcome`);
  setStep("agreement after the driver's commit");
  await agree(ctx, 4);
  await bothWays(ctx, "unprotect");
  setStep("ts-mls alice proposes removing carol (PublicMessage)");
  const p = await alice.propose({ proposalType: "remove", remove: { removed: carol.leaf } }, true);
  const pr = await drv.ok("process", { client: me, message: p });
  eq(pr.kind, "proposal", `driver ${me} process of alice's proposal: kind`);
  eq(pr.epoch, 4, `driver ${me} process of alice's proposal: epoch`);
  eq((await carol.receive(p)).kind, "proposal", "ts-mls carol: kind of alice's proposal");
  setStep("ts-mls alice commits the remove by reference");
  const c5 = await alice.commit({});
  const r5 = await drv.ok("process", { client: me, message: c5.commit });
  eq(r5.kind, "commit", `driver ${me} process of the remove commit: kind`);
  eq(r5.epoch, 5, `driver ${me} process of the remove commit: epoch`);
  eq((await carol.receive(c5.commit)).kind, "removed", "ts-mls carol: outcome of her removal");
  ctx.ts = [alice];
  setStep("agreement after carol's removal");
  await agree(ctx, 5);
  await bothWays(ctx, "unprotect");
  setStep(`ts-mls alice removes driver ${me}`);
  const c6 = await alice.commit({ proposals: [{ proposalType: "remove", remove: { removed: 1 } }] });
  const r6 = await drv.ok("process", { client: me, message: c6.commit });
  eq(r6.kind, "removed", `driver ${me} process of its removal: kind`);
  eq(r6.epoch, 5, `driver ${me} process of its removal: epoch`);
  setStep(`driver ${me} refuses to protect after its removal`);
  await drv.refuses("protect", { client: me, data: "00" }, "protect after being removed");
  return ctx;
}

// 2. The driver's client creates the group, ts-mls clients join; adds with
// the tree in the Welcome or out of band, external PSKs by value and by
// reference both ways, a ts-mls proposal committed by the driver.
async function scenario2(drv, suite) {
  const tag = `s2-${suite}`;
  const me = `${tag}-alice`;
  const bob = await tsSide(suite, `${tag}-bob`);
  const carol = await tsSide(suite, `${tag}-carol`);
  const ctx = { drv, me, ts: [] };
  const gid = rnd(16);
  setStep(`driver create_group ${me}`);
  const g = await drv.ok("create_group", { client: me, suite, identity: hex(utf8(me)), group_id: hex(gid) });
  eq(g.epoch, 0, `driver ${me} create_group: epoch`);
  eq(g.my_leaf, 0, `driver ${me} create_group: my_leaf`);
  const e0 = await drv.ok("epoch_authenticator", { client: me });
  eq(e0.epoch, 0, `driver ${me} epoch`);
  ctx.lo = 0;
  ctx.epoch = 0;

  const treeExt = suite % 2 === 0;
  const bobKp = await bob.keyPackage();
  const a1 = await driverCommit(ctx, { key_packages: [bobKp], ratchet_tree_ext: treeExt },
    `add bob, tree ${treeExt ? "in the Welcome" : "out of band"}`);
  check(isHex(a1.r.welcome) && isHex(a1.r.ratchet_tree), `driver ${me} add: welcome and ratchet_tree expected`);
  setStep("ts-mls bob joins from the driver's Welcome");
  await bob.join(a1.r.welcome, treeExt ? undefined : a1.r.ratchet_tree);
  eq(hex(bob.state.groupContext.groupId), hex(gid), "ts-mls bob: group id");
  eq(bob.leaf, 1, "ts-mls bob: own leaf");
  eq(a1.r.ratchet_tree, hex(encodeRatchetTree(bob.state.ratchetTree)), `driver ${me} add: ratchet_tree vs ts-mls bob's tree`);
  ctx.ts = [bob];
  setStep("agreement after bob joined");
  await agree(ctx, 1);
  await bothWays(ctx, "process");

  await driverCommit(ctx, { proposals: [] }, "empty commit with path");
  setStep("agreement after the driver's update commit");
  await agree(ctx, 2);
  await bothWays(ctx, "process");

  const carolKp = await carol.keyPackage();
  const a3 = await driverCommit(ctx, { key_packages: [carolKp], ratchet_tree_ext: !treeExt, public: true },
    `add carol as PublicMessage, tree ${!treeExt ? "in the Welcome" : "out of band"}`);
  setStep("ts-mls carol joins from the driver's Welcome");
  await carol.join(a3.r.welcome, !treeExt ? undefined : a3.r.ratchet_tree);
  eq(carol.leaf, 2, "ts-mls carol: own leaf");
  ctx.ts = [bob, carol];
  setStep("agreement after carol joined");
  await agree(ctx, 3);
  await bothWays(ctx, "process");

  // External PSK, same id and secret on every side.
  const pskId = rnd(12);
  const pskSecret = rnd(bob.impl.kdf.size);
  setStep(`driver ${me} register_psk`);
  await drv.ok("register_psk", { client: me, psk_id: hex(pskId), secret: hex(pskSecret) });
  for (const t of ctx.ts) t.psks[Buffer.from(pskId).toString("base64")] = pskSecret;
  setStep(`driver ${me} refuses a PSK it does not know`);
  await drv.refuses("commit", { client: me, proposals: [{ psk: { id: hex(rnd(12)) } }] }, "a commit with an unregistered PSK");

  for (const t of ctx.ts) t.pskLookups = 0;
  await driverCommit(ctx, { proposals: [{ psk: { id: hex(pskId) } }] }, "external PSK by value");
  for (const t of ctx.ts) check(t.pskLookups > 0, `ts-mls ${t.name} did not look up a PSK for the driver's PSK commit`);
  setStep("agreement after the PSK commit by value");
  await agree(ctx, 4);
  await bothWays(ctx, "process");

  setStep(`driver ${me} proposes the external PSK`);
  const pp = await drv.ok("propose", { client: me, proposal: { psk: { id: hex(pskId) } } });
  const ppm = decodeMsg(pp.message, `driver ${me} propose: message`);
  eq(ppm.wireformat, "mls_private_message", `driver ${me} propose: wire format`);
  for (const t of ctx.ts) {
    setStep(`ts-mls ${t.name} processes the driver's PSK proposal`);
    eq((await t.receive(pp.message)).kind, "proposal", `ts-mls ${t.name}: kind of the driver's proposal`);
    t.pskLookups = 0;
  }
  const byRef = await driverCommit(ctx, { by_reference: true, public: true }, "the PSK proposal by reference, PublicMessage");
  const refs = byRef.m.publicMessage.content.commit.proposals;
  eq(refs.length, 1, `driver ${me} commit by reference: number of proposals`);
  eq(refs[0].proposalOrRefType, "reference", `driver ${me} commit by reference: proposal kind`);
  for (const t of ctx.ts) check(t.pskLookups > 0, `ts-mls ${t.name} did not look up a PSK for the driver's commit by reference`);
  setStep("agreement after the PSK commit by reference");
  await agree(ctx, 5);
  await bothWays(ctx, "process");

  await tsCommit(ctx, bob, { proposals: [bob.pskProposal(pskId)] }, "external PSK by value");
  await bothWays(ctx, "process");

  setStep("ts-mls bob proposes removing carol (PrivateMessage)");
  const rp = await bob.propose({ proposalType: "remove", remove: { removed: carol.leaf } }, false);
  const rpr = await drv.ok("process", { client: me, message: rp });
  eq(rpr.kind, "proposal", `driver ${me} process of bob's proposal: kind`);
  eq(rpr.epoch, 6, `driver ${me} process of bob's proposal: epoch`);
  eq((await carol.receive(rp)).kind, "proposal", "ts-mls carol: kind of bob's proposal");
  ctx.ts = [bob];
  await driverCommit(ctx, { by_reference: true }, "bob's remove proposal by reference", [carol]);
  setStep("agreement after carol's removal");
  await agree(ctx, 7);
  await bothWays(ctx, "process");
  return ctx;
}

// 3. Out of order and late: m1..m5 of one epoch unprotected as m5, m2, m4,
// m1, m3; replays refused; m6 of epoch n read after the commit to n+1; a
// driver message of epoch n read by ts-mls after that commit.
async function scenario3(drv, suite) {
  const ctx = await tsCreatesDriverJoins(drv, suite, `s3-${suite}`, [], suite % 2 === 0);
  const [alice] = ctx.ts;
  const me = ctx.me;
  const n = alice.epoch;
  const sent = [];
  setStep("ts-mls alice protects m1..m5");
  for (let i = 1; i <= 5; i++) {
    const data = utf8(`m${i} `.repeat(i * 7));
    const aad = utf8(`aad ${i}`);
    const msg = await alice.send(data, aad);
    sent[i] = { data, aad, msg, gen: (await alice.senderData(msg)).generation };
  }
  for (let i = 2; i <= 5; i++) eq(sent[i].gen, sent[i - 1].gen + 1, `ts-mls generation of m${i}`);
  const open = async (i, epoch) => {
    setStep(`driver ${me} unprotects m${i} (out of order)`);
    const r = await drv.ok("unprotect", { client: me, message: sent[i].msg });
    eq(r.data, hex(sent[i].data), `driver ${me} unprotect m${i}: decrypted bytes`);
    eq(r.sender_leaf, alice.leaf, `driver ${me} unprotect m${i}: sender_leaf`);
    eq(r.generation, sent[i].gen, `driver ${me} unprotect m${i}: generation`);
    eq(r.epoch, epoch, `driver ${me} unprotect m${i}: epoch`);
    eq(r.authenticated_data, hex(sent[i].aad), `driver ${me} unprotect m${i}: authenticated_data`);
  };
  for (const i of [5, 2, 4, 1, 3]) await open(i, n);
  setStep(`driver ${me} refuses replays of m2 and m5 in epoch ${n}`);
  await drv.refuses("unprotect", { client: me, message: sent[2].msg }, `a replay of m2 in epoch ${n}`);
  await drv.refuses("process", { client: me, message: sent[5].msg }, `a replay of m5 in epoch ${n}`);

  setStep("ts-mls alice protects m6, then commits");
  const m6data = utf8("m6, sent before the commit");
  const m6 = await alice.send(m6data, new Uint8Array());
  const m6gen = (await alice.senderData(m6)).generation;
  eq(m6gen, sent[5].gen + 1, "ts-mls generation of m6");
  const c = await alice.commit({});
  setStep(`driver ${me} protects a message in epoch ${n} (before processing the commit)`);
  const lateData = rnd(40);
  const late = await drv.ok("protect", { client: me, data: hex(lateData) });
  eq(late.epoch, n, `driver ${me} protect: epoch`);
  setStep(`driver ${me} processes alice's commit`);
  const r = await drv.ok("process", { client: me, message: c.commit });
  eq(r.kind, "commit", `driver ${me} process: kind`);
  eq(r.epoch, n + 1, `driver ${me} process: epoch`);
  setStep("agreement after the commit");
  await agree(ctx, n + 1);
  setStep(`driver ${me} unprotects m6 of epoch ${n} in epoch ${n + 1}`);
  const r6 = await drv.ok("unprotect", { client: me, message: m6 });
  eq(r6.data, hex(m6data), `driver ${me} unprotect m6: decrypted bytes`);
  eq(r6.epoch, n, `driver ${me} unprotect m6: epoch`);
  eq(r6.generation, m6gen, `driver ${me} unprotect m6: generation`);
  eq(r6.sender_leaf, alice.leaf, `driver ${me} unprotect m6: sender_leaf`);
  eq(r6.authenticated_data, "", `driver ${me} unprotect m6: authenticated_data`);
  setStep(`driver ${me} refuses replays of m2 and m6 in epoch ${n + 1}`);
  await drv.refuses("unprotect", { client: me, message: sent[2].msg }, `a replay of m2 after the commit`);
  await drv.refuses("unprotect", { client: me, message: m6 }, `a replay of m6 after the commit`);
  setStep(`ts-mls alice reads the driver's epoch-${n} message in epoch ${n + 1}`);
  const x = await alice.receive(late.message);
  eq(x.data, hex(lateData), "ts-mls alice: decrypted bytes of the driver's late message");
  await bothWays(ctx, "unprotect");
  return ctx;
}

// ---------------------------------------------------------------- main
const t0 = Date.now();
const drv = new Driver(driverCmd);
const scenarios = [[1, scenario1], [2, scenario2], [3, scenario3]];
let passed = 0;
let failed = 0;
let aborted = null;
outer: for (const suite of suites) {
  if (names[suite] === undefined) {
    console.log(`FAIL suite ${suite}: ts-mls does not know this suite`);
    failed++;
    continue;
  }
  try {
    await getCiphersuiteImpl(getCiphersuiteFromName(names[suite]));
  } catch (e) {
    console.log(`FAIL suite ${suite}: ts-mls cannot run it here (${e.message})`);
    failed++;
    continue;
  }
  for (const [n, fn] of scenarios) {
    const ts = Date.now();
    step = "";
    try {
      const ctx = await fn(drv, suite);
      console.log(`PASS scenario ${n} suite ${suite} (epochs ${ctx.lo}..${ctx.hi}, ${Date.now() - ts} ms)`);
      passed++;
    } catch (e) {
      failed++;
      const side = e instanceof Failure || e instanceof DriverDown ? "" : " [exception on the ts-mls side]";
      console.log(`FAIL scenario ${n} suite ${suite} at step "${step}": ${e && e.message}${side}`);
      if (!(e instanceof Failure) && !(e instanceof DriverDown) && e && e.stack) console.error(e.stack);
      if (e instanceof DriverDown) {
        aborted = e.message;
        break outer;
      }
    }
  }
}
const clean = await drv.quit();
if (aborted === null && !clean) {
  console.log(`FAIL driver did not quit cleanly (${drv.down ?? `exit code ${drv.exitCode}`})`);
  failed++;
}
if (aborted !== null) console.log(`scenarios: aborted: ${aborted}`);
console.log(`scenarios: ${passed} passed, ${failed} failed (suites ${suites.join(",")}; ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed === 0 && aborted === null ? 0 : 1);
