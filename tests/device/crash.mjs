// Crash safety of mlsgated's encryption (issue 6, tests/device/README.md):
// SIGKILL the daemon repeatedly under concurrent encrypt load; every
// acknowledged message must decrypt on its ts-mls device to the bytes sent,
// and no (conversation, epoch, sender, generation) may appear twice among
// the acknowledged ciphertexts (no key/nonce reuse across crashes).
//
// Usage: node crash.mjs --mlsgated BIN --mlsgatectl BIN --dir DIR
//          [--rounds 8] [--convs 4] [--streams 24] [--rate 1500] [--seed N] [--suite 1]
// --rate caps the encrypt requests per second (the device decrypts every
// acknowledged message afterwards, about 1.5 ms each in ts-mls).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  Api, DEFAULT_MAX_FORWARD, Daemon, Device, MAX_FORWARD, TestFailure, b64, check, ctl, eq, hex, initStore, parseArgs,
  prng, sameBytes, sleep, unb64,
} from "./lib.mjs";

const opt = parseArgs(process.argv.slice(2),
  ["mlsgated", "mlsgatectl", "dir", "rounds", "convs", "streams", "rate", "seed", "suite"]);
for (const k of ["mlsgated", "mlsgatectl", "dir"]) {
  if (opt[k] === undefined) {
    console.error("usage: node crash.mjs --mlsgated BIN --mlsgatectl BIN --dir DIR [--rounds N] [--convs N] [--streams N] [--rate N] [--seed N] [--suite N]");
    process.exit(2);
  }
}
const ROUNDS = Number(opt.rounds ?? 8);
const CONVS = Number(opt.convs ?? 4);
const STREAMS = Number(opt.streams ?? 24);
const RATE = Number(opt.rate ?? 1500);
const SUITE = Number(opt.suite ?? 1);
const SEED = Number(opt.seed ?? process.env.MLSGATE_DEVICE_SEED ?? (Date.now() % 1000000));
const rand = prng(SEED);
const store = join(opt.dir, "store");
const log = (s) => console.log(`crash: ${s}`);
const enc = encodeURIComponent;

let daemon;
let api;
const convs = []; // { id, dev, selfLeaf, maxGen: Map(epoch -> last generation processed) }
const seen = new Set(); // "conv|epoch|sender|generation"
const stats = {
  acked: 0, unacked: 0, busy: 0, commits: 0, deviceCommits: 0, maxGap: 0, longGaps: 0,
  upAcked: 0, replaysRefused: 0, pendingTaken: 0, pendingRefused: 0,
};

async function agree(c, step) {
  const g = await api.expect(200, "GET", `/v1/conversations/${enc(c.id)}`);
  eq(g.epoch, c.dev.epoch, `${step}: ${c.id}: service epoch vs device epoch`);
  check(sameBytes(unb64(g.epoch_authenticator, "epoch_authenticator"), c.dev.epochAuthenticator),
    `${step}: ${c.id}: epoch_authenticator differs at epoch ${g.epoch}`);
  return g;
}

// The device's side of the load: each device sends its messages one after
// the other (the service sees them in order); a 200 with the plaintext
// is an acknowledged decrypt (c.upAcked), a message without a complete
// answer is pending (c.upPending).
async function deviceSender(c, round, isStopped) {
  for (let n = 0; !isStopped(); n++) {
    const pt = Buffer.from(`crash-up-r${round}-${c.id}-${n}-${hex(randomBytes(8))}`);
    const msg = await c.dev.encrypt(pt);
    let r;
    try {
      r = await api.req("POST", `/v1/conversations/${enc(c.id)}/decrypt`, { message: b64(msg) }, { timeoutMs: 20000 });
    } catch {
      c.upPending.push({ msg, pt });
      return;
    }
    if (r.status === 200) {
      eq(r.json?.type, "application", `round ${round}: ${c.id}: decrypt type`);
      check(sameBytes(unb64(r.json.plaintext, "plaintext"), pt), `round ${round}: ${c.id}: service decrypted other bytes`);
      c.upAcked.push({ msg, pt });
      stats.upAcked++;
    } else if (r.status === 503 || r.status === 429) {
      c.upPending.push({ msg, pt }); // not processed: may be sent again
      await sleep(5);
    } else {
      throw new TestFailure(`round ${round}: ${c.id}: decrypt answered ${r.status}: ${r.body.toString("utf8").slice(0, 400)}`);
    }
    await sleep(3);
  }
}

// After a restart: an acknowledged decrypt survived the crash, so its
// message replayed is refused (422 mls_rejected, mls_error generation);
// a message whose answer never came is either taken now (200, the same
// plaintext) or refused as a replay (it was processed before the crash).
async function checkUpstream(round) {
  for (const c of convs) {
    const replays = c.upAcked.slice(-3);
    if (c.upAcked.length > 3) replays.push(c.upAcked[Math.floor(rand() * (c.upAcked.length - 3))]);
    for (const m of replays) {
      const r = await api.req("POST", `/v1/conversations/${enc(c.id)}/decrypt`, { message: b64(m.msg) });
      check(r.status === 422 && r.json?.code === "mls_rejected",
        `after crash ${round}: ${c.id}: an acknowledged device message replayed was answered ${r.status} ${r.body.toString("utf8").slice(0, 300)} (the decrypt did not survive the crash)`);
      stats.replaysRefused++;
    }
    for (const m of c.upPending) {
      const r = await api.req("POST", `/v1/conversations/${enc(c.id)}/decrypt`, { message: b64(m.msg) });
      if (r.status === 200) {
        check(sameBytes(unb64(r.json.plaintext, "plaintext"), m.pt), `after crash ${round}: ${c.id}: pending message decrypts to other bytes`);
        stats.pendingTaken++;
      } else {
        check(r.status === 422 && r.json?.code === "mls_rejected",
          `after crash ${round}: ${c.id}: a pending device message sent again was answered ${r.status} ${r.body.toString("utf8").slice(0, 300)}`);
        stats.pendingRefused++;
      }
    }
    c.upAcked = [];
    c.upPending = [];
  }
}

// Encrypt load (and the devices' messages) until the connection dies;
// returns the acknowledged encrypt responses ({ c, pt, r }).
async function load(round) {
  const acks = [];
  let stop = false;
  let seq = 0;
  const t0 = Date.now();
  const worker = async (w) => {
    for (;;) {
      if (stop || api.closed) return;
      // rate cap: request number n may start at t0 + n / RATE
      const n = seq++;
      const due = t0 + (n * 1000) / RATE - Date.now();
      if (due > 0) await sleep(due);
      if (stop || api.closed) return;
      const c = convs[(n + w) % convs.length];
      const pt = Buffer.concat([Buffer.from(`crash-r${round}-n${n}-`), randomBytes(16 + (n % 200))]);
      let r;
      try {
        r = await api.req("POST", `/v1/conversations/${enc(c.id)}/encrypt`, { plaintext: b64(pt) }, { timeoutMs: 20000 });
      } catch {
        stats.unacked++; // no complete response: not acknowledged
        continue;
      }
      if (r.status === 200) {
        check(r.json !== undefined && typeof r.json.message === "string" && Number.isInteger(r.json.generation)
          && Number.isInteger(r.json.epoch), `round ${round}: 200 encrypt response without message/epoch/generation: ${r.body}`);
        acks.push({ c, pt, r: r.json });
      } else if (r.status === 503 || r.status === 429) {
        stats.busy++;
        await sleep(5);
      } else {
        throw new TestFailure(`round ${round}: encrypt answered ${r.status}: ${r.body.toString("utf8").slice(0, 400)}`);
      }
    }
  };
  // The first failure of a worker stops the load (after the kill, so that
  // the daemon never outlives the test).
  let failure;
  const onFail = (e) => {
    failure ??= e;
    stop = true;
  };
  const workers = Array.from({ length: STREAMS }, (_, w) => worker(w).catch(onFail));
  for (const c of convs) workers.push(deviceSender(c, round, () => stop || api.closed).catch(onFail));
  const killAt = 100 + Math.floor(rand() * 600);
  for (const until = Date.now() + killAt; !stop && Date.now() < until;) await sleep(Math.min(10, until - Date.now()));
  await daemon.kill();
  stop = true;
  api.destroy();
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
  return { acks, killAt, ms: Date.now() - t0 };
}

// The device of each conversation processes the round's acknowledged
// messages in (epoch, generation) order.
// |round| is a number (the final delivery: ROUNDS + 1).  A gap after one
// crash (the conversation had messages delivered in the round before) must
// stay within ts-mls's default maximumForwardRatchetSteps: a stock device
// follows it; after several crashes with nothing delivered in between the
// gap may grow by a lease per crash (the device's MAX_FORWARD covers that).
async function deliver(acks, round) {
  for (const c of convs) {
    const mine = acks.filter((a) => a.c === c).sort((x, y) => x.r.epoch - y.r.epoch || x.r.generation - y.r.generation);
    let first = true;
    for (const a of mine) {
      const key = `${c.id}|${a.r.epoch}|${c.selfLeaf}|${a.r.generation}`;
      check(!seen.has(key), `round ${round}: (conversation, epoch, sender, generation) used twice: ${key}`);
      seen.add(key);
      eq(a.r.epoch, c.dev.epoch, `round ${round}: ${c.id}: acknowledged message of another epoch than the device's`);
      const last = c.maxGen.get(a.r.epoch);
      if (last !== undefined) {
        check(a.r.generation > last, `round ${round}: ${c.id}: generation ${a.r.generation} after ${last} was already delivered`);
        const gap = a.r.generation - last;
        if (gap > stats.maxGap) stats.maxGap = gap;
        if (first && c.lastRound === round - 1) {
          check(gap <= DEFAULT_MAX_FORWARD, `round ${round}: ${c.id}: generation gap ${gap} after one crash exceeds `
            + `ts-mls's default maximumForwardRatchetSteps (${DEFAULT_MAX_FORWARD}): a stock device could not follow`);
        } else if (first && gap > DEFAULT_MAX_FORWARD) {
          stats.longGaps++;
        }
      }
      let got;
      try {
        got = await c.dev.process(unb64(a.r.message, "message"));
      } catch (e) {
        throw new TestFailure(`round ${round}: ${c.id}: device cannot decrypt acknowledged message (epoch ${a.r.epoch}, generation ${a.r.generation}, previous ${last}): ${e.message}`);
      }
      eq(got.kind, "application", `round ${round}: device's view of an acknowledged message`);
      check(sameBytes(got.data, a.pt), `round ${round}: ${c.id}: generation ${a.r.generation} decrypts to other bytes`);
      eq(got.generation, a.r.generation, `round ${round}: generation in the sender data vs the response`);
      eq(got.senderLeaf, c.selfLeaf, `round ${round}: sender leaf`);
      const dkey = `${c.id}|${got.epoch}|${got.senderLeaf}|${got.generation}`;
      eq(dkey, key, `round ${round}: decrypted (epoch, sender, generation)`);
      c.maxGen.set(a.r.epoch, a.r.generation);
      c.lastRound = round;
      first = false;
    }
  }
}

async function main() {
  const t0 = Date.now();
  log(`seed ${SEED} (MLSGATE_DEVICE_SEED=${SEED} replays the kill times), ${ROUNDS} rounds, ${CONVS} conversations, `
    + `${STREAMS} streams, <= ${RATE} encrypts/s, suite ${SUITE}, device maximumForwardRatchetSteps ${MAX_FORWARD}`);
  check(!existsSync(store), `${store} exists already`);
  const { verifierKey, token } = initStore(opt.mlsgatectl, store);
  daemon = new Daemon(opt.mlsgated, store, { pidFile: join(opt.dir, "mlsgated.pid") });
  api = new Api(await daemon.start(), token);
  const ident = await api.expect(201, "POST", "/v1/identities", { name: "crash", cipher_suite: SUITE });
  for (let i = 0; i < CONVS; i++) {
    const dev = await Device.create(SUITE, `crash-phone-${i}`);
    const open = await api.expect(201, "POST", "/v1/conversations",
      { identity: ident.name, peer_key_package: b64(await dev.newKeyPackage()), conversation_id: `crash-${i}` });
    await dev.join(unb64(open.welcome, "welcome"), unb64(open.ratchet_tree, "ratchet_tree"));
    eq(open.conversation_id, `crash-${i}`, "open: the conversation_id asked for");
    const c = { id: open.conversation_id, dev, selfLeaf: undefined, maxGen: new Map(), upAcked: [], upPending: [] };
    c.selfLeaf = (await agree(c, "setup")).self_leaf;
    convs.push(c);
  }
  api.close();
  await daemon.stop();

  for (let round = 1; round <= ROUNDS; round++) {
    const tr = Date.now();
    api = new Api(await daemon.start(), token);
    await checkUpstream(round - 1);
    // The service still reads the device after the crash ...
    for (const c of convs) {
      const pt = Buffer.from(`crash-d2s-r${round}-${hex(randomBytes(8))}`);
      const r = await api.expect(200, "POST", `/v1/conversations/${enc(c.id)}/decrypt`, { message: b64(await c.dev.encrypt(pt)) });
      eq(r.type, "application", `round ${round}: service decrypt type`);
      check(sameBytes(unb64(r.plaintext, "plaintext"), pt), `round ${round}: service decrypted other bytes`);
    }
    // ... and sometimes commits (outside the kill window: an unacknowledged
    // commit would leave the device unable to follow).
    let note = "";
    if (round % 3 === 2) {
      const c = convs[round % convs.length];
      const cm = await api.expect(200, "POST", `/v1/conversations/${enc(c.id)}/commit`, { update: true });
      eq((await c.dev.process(unb64(cm.commit, "commit"))).kind, "commit", `round ${round}: device's view of the commit`);
      await agree(c, `round ${round} after the service's commit`);
      stats.commits++;
      note += ` service commit in ${c.id} (epoch ${c.dev.epoch})`;
    }
    if (round % 4 === 3) {
      const c = convs[(round + 1) % convs.length];
      const r = await api.expect(200, "POST", `/v1/conversations/${enc(c.id)}/decrypt`, { message: b64(await c.dev.commitUpdate()) });
      eq(r.type, "commit", `round ${round}: service's view of the device's commit`);
      eq(r.conversation_epoch, c.dev.epoch, `round ${round}: conversation_epoch after the device's commit`);
      await agree(c, `round ${round} after the device's commit`);
      stats.deviceCommits++;
      note += ` device commit in ${c.id} (epoch ${c.dev.epoch})`;
    }
    const { acks, killAt, ms } = await load(round);
    stats.acked += acks.length;
    const td = Date.now();
    await deliver(acks, round);
    log(`round ${round}: killed at ${killAt} ms, ${acks.length} acknowledged encrypts delivered and checked `
      + `(load ${ms} ms, device ${Date.now() - td} ms, round ${Date.now() - tr} ms)${note}`);
  }

  // After the last crash: the service encrypts again, the devices follow
  // the gap, everybody agrees; a graceful stop.
  api = new Api(await daemon.start(), token);
  await checkUpstream(ROUNDS);
  const finalAcks = [];
  for (const c of convs) {
    const pt = Buffer.from(`crash-final-${hex(randomBytes(8))}`);
    finalAcks.push({ c, pt, r: await api.expect(200, "POST", `/v1/conversations/${enc(c.id)}/encrypt`, { plaintext: b64(pt) }) });
  }
  await deliver(finalAcks, ROUNDS + 1);
  stats.acked += finalAcks.length;
  for (const c of convs) await agree(c, "final");
  api.close();
  await daemon.stop();

  // Every acknowledged encrypt has its audit entry, and the log verifies.
  const exp = join(opt.dir, "audit.jsonl");
  ctl(opt.mlsgatectl, ["--store", store, "audit", "export", "--out", exp]);
  const v = ctl(opt.mlsgatectl, ["audit", "verify", exp, "--key", verifierKey]);
  check(/^OK:/m.test(v), `audit verify did not say OK: ${v}`);
  let encrypts = 0;
  for (const line of readFileSync(exp, "utf8").split("\n")) {
    let e;
    try { e = JSON.parse(line); } catch { continue; }
    if (typeof e.entry === "string") { try { e = JSON.parse(e.entry); } catch { /* keep */ } }
    if (e.action === "message.encrypt" && e.result === "ok") encrypts++;
  }
  check(encrypts >= stats.acked, `audit log has ${encrypts} successful message.encrypt entries for ${stats.acked} acknowledged encrypts`);

  log(`PASS: ${ROUNDS} SIGKILLs, ${stats.acked} acknowledged encrypts all decrypted on the devices, `
    + `${seen.size} distinct (conversation, epoch, sender, generation), none twice; ${stats.unacked} requests unanswered, `
    + `${stats.busy} busy answers; device messages: ${stats.upAcked} acknowledged decrypts, ${stats.replaysRefused} of them `
    + `replayed after the crashes and refused, ${stats.pendingTaken + stats.pendingRefused} unanswered sent again `
    + `(${stats.pendingTaken} taken, ${stats.pendingRefused} refused as replays); ${stats.commits} service and ${stats.deviceCommits} device commits; largest generation gap `
    + `${stats.maxGap}; audit: ${encrypts} message.encrypt entries, export verifies (${Date.now() - t0} ms)`);
  if (stats.longGaps > 0) {
    log(`NOTE: ${stats.longGaps} gaps after several crashes in a row exceeded ts-mls's default maximumForwardRatchetSteps `
      + `(${DEFAULT_MAX_FORWARD}); largest ${stats.maxGap}`);
  }
  return 0;
}

main().then((rc) => process.exit(rc), async (e) => {
  console.log(`crash: FAIL (seed ${SEED}): ${e instanceof TestFailure ? e.message : e.stack}`);
  if (daemon !== undefined) {
    if (daemon.lines.length) console.log(daemon.tail());
    await daemon.kill();
  }
  process.exit(1);
});
