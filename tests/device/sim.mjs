// Device simulator (issue 6, tests/device/README.md): ts-mls plays the
// recipient's phone against a running mlsgated over HTTP/2 (Node's http2).
//
// Usage: node sim.mjs --mlsgated BIN --mlsgatectl BIN --dir DIR [--suites 1,2,3]
//   DIR: an empty scratch directory (the store goes to DIR/store).
// Prints one PASS/SKIP/FAIL line per cipher suite and a summary; exits 0
// when nothing failed, 1 otherwise.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  Api, Daemon, Device, TestFailure, b64, basicCredentialBytes, check, ctl, eq, hex, initStore,
  keyPackageRef, parseArgs, sameBytes, suiteImpl, unb64,
} from "./lib.mjs";

const opt = parseArgs(process.argv.slice(2), ["mlsgated", "mlsgatectl", "dir", "suites"]);
for (const k of ["mlsgated", "mlsgatectl", "dir"]) {
  if (opt[k] === undefined) {
    console.error("usage: node sim.mjs --mlsgated BIN --mlsgatectl BIN --dir DIR [--suites 1,2,3]");
    process.exit(2);
  }
}
const suites = (opt.suites ?? "1,2,3,4,5,6,7").split(",").map(Number);
const store = join(opt.dir, "store");

// Every plaintext this test sends (service->device and device->service);
// none may appear in the audit export or the store's files.  Each one
// starts with a marker so that the search cannot hit by chance.
const sentPlaintexts = [];
function plaintext(what, size = 48) {
  const head = Buffer.from(`devsim-secret-${what}-${randomBytes(8).toString("hex")}-`);
  const p = Buffer.concat([head, randomBytes(Math.max(0, size - head.length))]);
  sentPlaintexts.push(p);
  return new Uint8Array(p);
}

const log = (s) => console.log(s);
const convIds = []; // every conversation opened or joined (they must be in the audit log)
const contentHmacs = []; // of every encrypt response (each must be in an audit entry)
let api;
let daemon;

// GET the conversation and check that the service and the device agree on
// epoch, authenticator and members.
async function agree(convId, dev, step) {
  const c = await api.expect(200, "GET", `/v1/conversations/${encodeURIComponent(convId)}`);
  eq(c.conversation_id, convId, `${step}: conversation_id`);
  eq(c.epoch, dev.epoch, `${step}: service epoch vs device epoch`);
  const ea = unb64(c.epoch_authenticator, `${step}: epoch_authenticator`);
  check(sameBytes(ea, dev.epochAuthenticator),
    `${step}: epoch_authenticator differs at epoch ${c.epoch}: service ${hex(ea)}, device ${hex(dev.epochAuthenticator)}`);
  check(Array.isArray(c.members), `${step}: members is not an array`);
  eq(c.members.length, 2, `${step}: number of members`);
  const devMember = c.members.find((m) => m.leaf_index === dev.leafIndex);
  check(devMember !== undefined, `${step}: the device's leaf ${dev.leafIndex} is not among the members ${JSON.stringify(c.members)}`);
  check(sameBytes(unb64(devMember.credential, "credential"), basicCredentialBytes(dev.identity)),
    `${step}: the device's credential is not its basic credential`);
  check(Number.isInteger(c.self_leaf) && c.self_leaf !== dev.leafIndex, `${step}: self_leaf ${c.self_leaf}`);
  const self = c.members.find((m) => m.leaf_index === c.self_leaf);
  check(self !== undefined, `${step}: self_leaf ${c.self_leaf} is not among the members`);
  check(/^[0-9a-f]{32}$/.test(self.signature_key_id), `${step}: signature_key_id ${self.signature_key_id}`);
  return c;
}

// The service encrypts |n| messages; the device decrypts each one.
async function serviceToDevice(convId, dev, n, ident, step) {
  let lastGen = -1;
  for (let i = 0; i < n; i++) {
    const pt = plaintext(`s2d-${step}-${i}`, [1, 48, 300, 1024, 4000][i % 5] + 64);
    const aad = i % 2 === 1 ? new Uint8Array(randomBytes(12)) : undefined;
    const body = { plaintext: b64(pt) };
    if (aad !== undefined) body.authenticated_data = b64(aad);
    const r = await api.expect(200, "POST", `/v1/conversations/${encodeURIComponent(convId)}/encrypt`, body);
    eq(r.epoch, dev.epoch, `${step}: encrypt epoch`);
    check(Number.isInteger(r.generation) && r.generation > lastGen,
      `${step}: encrypt generation ${r.generation} after ${lastGen}`);
    eq(r.signature_key_id, ident.active_key_id, `${step}: encrypt signature_key_id vs the identity's active key`);
    check(/^[0-9a-f]{64}$/.test(r.content_hmac), `${step}: content_hmac ${r.content_hmac}`);
    contentHmacs.push(r.content_hmac);
    const got = await dev.process(unb64(r.message, "message"));
    eq(got.kind, "application", `${step}: device's view of message ${i}`);
    check(sameBytes(got.data, pt), `${step}: device decrypted other bytes for message ${i}`);
    eq(got.generation, r.generation, `${step}: generation in the sender data vs the response`);
    eq(got.epoch, r.epoch, `${step}: epoch of message ${i}`);
    if (aad !== undefined) check(sameBytes(got.authenticatedData, aad), `${step}: authenticated_data`);
    lastGen = r.generation;
  }
}

// The device encrypts |n| messages; the service decrypts each one.
async function deviceToService(convId, dev, n, step) {
  for (let i = 0; i < n; i++) {
    const pt = plaintext(`d2s-${step}-${i}`, [64, 700, 2000][i % 3]);
    const msg = await dev.encrypt(pt);
    const r = await api.expect(200, "POST", `/v1/conversations/${encodeURIComponent(convId)}/decrypt`,
      { message: b64(msg) });
    eq(r.type, "application", `${step}: decrypt type of message ${i}`);
    check(typeof r.plaintext === "string" && sameBytes(unb64(r.plaintext, "plaintext"), pt),
      `${step}: service decrypted other bytes for message ${i}`);
    eq(r.sender_leaf, dev.leafIndex, `${step}: sender_leaf`);
    eq(r.epoch, dev.epoch, `${step}: decrypt epoch`);
    eq(r.conversation_epoch, dev.epoch, `${step}: conversation_epoch`);
  }
  // A replay is refused and changes nothing.
  const again = await dev.encrypt(plaintext(`d2s-${step}-replay`));
  const path = `/v1/conversations/${encodeURIComponent(convId)}/decrypt`;
  await api.expect(200, "POST", path, { message: b64(again) });
  const rep = await api.req("POST", path, { message: b64(again) });
  eq(rep.status, 422, `${step}: decrypting a replayed message`);
  eq(rep.json?.code, "mls_rejected", `${step}: code of the replay rejection`);
  eq(rep.json?.mls_error, "generation", `${step}: mls_error of the replay rejection`);
  eq(rep.json?.status, 422, `${step}: status in the problem body`);
  check(String(rep.headers["content-type"]).startsWith("application/problem+json"),
    `${step}: replay rejection content-type ${rep.headers["content-type"]}`);
}

async function runSuite(suite) {
  const name = `sec-s${suite}`;
  const ident0 = await api.expect(201, "POST", "/v1/identities", { name, cipher_suite: suite });
  eq(ident0.name, name, "identity name");
  eq(ident0.cipher_suite, suite, "identity cipher_suite");
  check(/^[0-9a-f]{32}$/.test(ident0.active_key_id), `active_key_id ${ident0.active_key_id}`);
  for (const f of ["rotate_every", "created_at"]) check(Number.isInteger(ident0[f]), `identity: ${f} ${ident0[f]}`);
  check(Array.isArray(ident0.keys) && ident0.keys.every((k) => Number.isInteger(k.version) && Number.isInteger(k.created_at)
    && Number.isInteger(k.not_after) && typeof k.public_key === "string"), `identity keys: ${JSON.stringify(ident0.keys)}`);
  const key0 = ident0.keys?.find((k) => k.key_id === ident0.active_key_id);
  check(key0 !== undefined && key0.state === "active", "the active key is not listed as active");

  // ---- the service opens a conversation with the device's KeyPackage
  const dev = await Device.create(suite, `phone-s${suite}`);
  const kp = await dev.newKeyPackage();
  const open = await api.expect(201, "POST", "/v1/conversations",
    { identity: name, peer_key_package: b64(kp) });
  eq(open.cipher_suite, suite, "open: cipher_suite");
  eq(open.epoch, 1, "open: epoch");
  const convId = open.conversation_id;
  check(typeof convId === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(convId), `open: conversation_id ${convId}`);
  convIds.push(convId);
  await dev.join(unb64(open.welcome, "welcome"), unb64(open.ratchet_tree, "ratchet_tree"));
  eq(dev.epoch, 1, "device epoch after joining");
  let conv = await agree(convId, dev, "after join");
  eq(conv.identity, name, "conversation identity");
  eq(conv.cipher_suite, suite, "conversation cipher_suite");
  const selfLeaf = conv.self_leaf;
  eq(conv.members.find((m) => m.leaf_index === selfLeaf).signature_key_id, ident0.active_key_id,
    "our member's signature_key_id after open");
  check(sameBytes(dev.leaf(selfLeaf).signaturePublicKey, unb64(key0.public_key, "public_key")),
    "the service's leaf signature key (device's tree) is not the identity's active public key");

  // ---- messages both ways
  await serviceToDevice(convId, dev, 5, ident0, "epoch 1");
  await deviceToService(convId, dev, 3, "epoch 1");

  // ---- the security team rotates the key; the service commits an update
  // api-spec: the body is {} or empty (both are sent, by suite)
  const ident1 = await api.expect(200, "POST", `/v1/identities/${name}/rotate`, suite % 2 === 1 ? undefined : {});
  check(ident1.active_key_id !== ident0.active_key_id, "rotate: active_key_id did not change");
  const key1 = ident1.keys.find((k) => k.key_id === ident1.active_key_id);
  check(key1 !== undefined && key1.state === "active", "rotate: new key not active");
  const oldKey = ident1.keys.find((k) => k.key_id === ident0.active_key_id);
  check(oldKey !== undefined && oldKey.state === "retired", `rotate: old key state ${oldKey?.state}`);
  const cm = await api.expect(200, "POST", `/v1/conversations/${encodeURIComponent(convId)}/commit`, { update: true });
  eq(cm.epoch, 2, "service commit: epoch");
  eq(cm.signature_key_id, ident1.active_key_id, "service commit: signature_key_id");
  const pr = await dev.process(unb64(cm.commit, "commit"));
  eq(pr.kind, "commit", "device's view of the service's commit");
  eq(dev.epoch, 2, "device epoch after the service's commit");
  conv = await agree(convId, dev, "after the service's update commit");
  eq(conv.members.find((m) => m.leaf_index === selfLeaf).signature_key_id, ident1.active_key_id,
    "our member's signature_key_id after rotate + commit");
  check(sameBytes(dev.leaf(selfLeaf).signaturePublicKey, unb64(key1.public_key, "public_key")),
    "after the update the service's leaf (device's tree) does not carry the new public key");
  await serviceToDevice(convId, dev, 4, ident1, "epoch 2");
  await deviceToService(convId, dev, 2, "epoch 2");

  // ---- the device commits an update of its own
  const dc = await dev.commitUpdate();
  eq(dev.epoch, 3, "device epoch after its own commit");
  const dr = await api.expect(200, "POST", `/v1/conversations/${encodeURIComponent(convId)}/decrypt`, { message: b64(dc) });
  eq(dr.type, "commit", "service's view of the device's commit");
  eq(dr.sender_leaf, dev.leafIndex, "device commit: sender_leaf");
  eq(dr.epoch, 2, "device commit: epoch (the message's)");
  eq(dr.conversation_epoch, 3, "device commit: conversation_epoch");
  check(dr.plaintext === undefined, "device commit: a commit has no plaintext");
  await agree(convId, dev, "after the device's commit");
  await serviceToDevice(convId, dev, 3, ident1, "epoch 3");
  await deviceToService(convId, dev, 3, "epoch 3");

  // ---- the service joins a group the device created
  const kps = await api.expect(201, "POST", `/v1/identities/${name}/key-packages`, { count: 2 });
  check(Array.isArray(kps.key_packages) && kps.key_packages.length === 2, "key-packages: count");
  for (const k of kps.key_packages) {
    check(sameBytes(unb64(k.ref, "ref"), await keyPackageRef(unb64(k.key_package, "key_package"), suite)),
      "key-packages: ref is not the KeyPackageRef ts-mls computes");
  }
  const stats0 = await api.expect(200, "GET", `/v1/identities/${name}/key-packages/stats`);
  const dev2 = await Device.create(suite, `phone2-s${suite}`);
  await dev2.createGroup(new Uint8Array(randomBytes(16)));
  const add = await dev2.add(unb64(kps.key_packages[1].key_package, "key_package"));
  // with an Idempotency-Key: a retry of the phone's upload replays the
  // first answer byte for byte
  const joinBody = { identity: name, welcome: b64(add.welcome), ratchet_tree: b64(add.ratchetTree) };
  const idem = { headers: { "idempotency-key": `join-s${suite}-${hex(randomBytes(4))}` } };
  const jr = await api.req("POST", "/v1/conversations/join", joinBody, idem);
  eq(jr.status, 201, `join: status (${jr.body.toString("utf8").slice(0, 300)})`);
  const jn = jr.json;
  const jr2 = await api.req("POST", "/v1/conversations/join", joinBody, idem);
  eq(jr2.status, 201, "join replayed under its Idempotency-Key: status");
  check(sameBytes(jr2.body, jr.body), "join replayed under its Idempotency-Key: another body");
  eq(jr2.headers["idempotent-replayed"], "true", "join replayed: idempotent-replayed header");
  eq(jn.cipher_suite, suite, "join: cipher_suite");
  eq(jn.epoch, dev2.epoch, "join: epoch");
  const conv2 = jn.conversation_id;
  check(typeof conv2 === "string" && conv2 !== convId, `join: conversation_id ${conv2}`);
  convIds.push(conv2);
  await agree(conv2, dev2, "after the service joined");
  const stats1 = await api.expect(200, "GET", `/v1/identities/${name}/key-packages/stats`);
  eq(stats1.unused, stats0.unused - 1, "key-packages/stats: unused after the join consumed one");
  await deviceToService(conv2, dev2, 3, "joined");
  await serviceToDevice(conv2, dev2, 3, ident1, "joined");
  // the same Welcome again: its KeyPackage is consumed
  const rj = await api.req("POST", "/v1/conversations/join",
    { identity: name, welcome: b64(add.welcome), ratchet_tree: b64(add.ratchetTree) });
  check(rj.status === 404 || rj.status === 422, `joining twice from one Welcome: status ${rj.status} (want 404 or 422)`);

  // ---- the service commits again in the joined group; the device follows
  const cm2 = await api.expect(200, "POST", `/v1/conversations/${encodeURIComponent(conv2)}/commit`, { update: true });
  eq((await dev2.process(unb64(cm2.commit, "commit"))).kind, "commit", "joined: device's view of the commit");
  await agree(conv2, dev2, "joined, after the service's commit");
  await serviceToDevice(conv2, dev2, 2, ident1, "joined, next epoch");

  // ---- the first device removes the service: the conversation is gone
  const rm = await dev.commitRemove(selfLeaf);
  const rr = await api.expect(200, "POST", `/v1/conversations/${encodeURIComponent(convId)}/decrypt`, { message: b64(rm) });
  eq(rr.type, "commit", "removal: type");
  eq(rr.removed, true, "removal: removed");
  eq(rr.sender_leaf, dev.leafIndex, "removal: sender_leaf");
  const after = await api.req("GET", `/v1/conversations/${encodeURIComponent(convId)}`);
  eq(after.status, 404, "GET after the device removed the service");

  // ---- close the joined conversation
  await api.expect(204, "DELETE", `/v1/conversations/${encodeURIComponent(conv2)}`);
  const gone = await api.req("GET", `/v1/conversations/${encodeURIComponent(conv2)}`);
  eq(gone.status, 404, "GET after DELETE");
  return `epochs 1..${dev.epoch}`;
}

// ---- audit checks
function checkAudit(verifierKey, token, daemonLog) {
  const exp = join(opt.dir, "audit.jsonl");
  ctl(opt.mlsgatectl, ["--store", store, "audit", "export", "--out", exp]);
  const v = ctl(opt.mlsgatectl, ["audit", "verify", exp, "--key", verifierKey]);
  check(/^OK:/m.test(v), `audit verify did not say OK: ${v}`);
  const text = readFileSync(exp);
  const actions = new Map();
  for (const line of text.toString("utf8").split("\n")) {
    let o;
    try { o = JSON.parse(line); } catch { continue; }
    // an entry line, or a wrapper carrying the entry's JSON text
    let e = o;
    if (typeof o.entry === "string") { try { e = JSON.parse(o.entry); } catch { /* keep */ } }
    if (typeof e.action === "string") {
      const k = `${e.action}:${e.result}`;
      actions.set(k, (actions.get(k) ?? 0) + 1);
    }
  }
  const want = ["identity.create", "identity.rotate", "keypackage.generate", "conversation.open",
    "conversation.join", "message.encrypt", "message.decrypt", "conversation.commit", "conversation.close"];
  const missing = want.filter((a) => !actions.has(`${a}:ok`));
  check(missing.length === 0, `audit export lacks successful entries for ${missing.join(", ")}; has ${[...actions.keys()].join(", ")}`);
  // The search below does see the export's content: every conversation id
  // is there (the audit entries' objects).
  const exportText = text.toString("utf8");
  for (const id of convIds) check(exportText.includes(id), `audit export does not name conversation ${id}`);
  // api-spec: content_hmac is "the same as in the audit entry".
  for (const h of contentHmacs) {
    check(exportText.includes(`"content_hmac":"${h}"`) || exportText.includes(`\\"content_hmac\\":\\"${h}\\"`),
      `the encrypt response's content_hmac ${h} is in no audit entry`);
  }
  // No plaintext in the export or in any file of the store, raw, base64 or hex.
  const storeFiles = readdirSync(store);
  check(storeFiles.includes("data.mdb"), `no data.mdb in the store (${storeFiles.join(", ")})`);
  const files = [exp, ...storeFiles.map((f) => join(store, f)).filter((f) => statSync(f).isFile())];
  // The daemon's log (every line of the run): no plaintext, no token.
  const logText = daemonLog.join("\n");
  check(daemonLog.length > 0 && logText.includes("/v1/conversations/{id}/encrypt"),
    "the daemon's log does not have the access-log lines expected");
  check(!logText.includes(token) && !logText.includes(token.slice(4)), "the daemon's log holds the bearer token");
  for (const p of sentPlaintexts) {
    check(!logText.includes(p.subarray(0, 40).toString("latin1")), "the daemon's log holds a plaintext");
    for (let k = 0; k < 3; k++) {
      check(!logText.includes(p.subarray(k, k + 30).toString("base64")), "the daemon's log holds a plaintext (base64)");
    }
  }
  for (const f of files) {
    const data = readFileSync(f);
    const asText = data.toString("latin1");
    for (const p of sentPlaintexts) {
      const head = p.subarray(0, 40);
      check(data.indexOf(head) < 0, `plaintext found in ${f}: ${head.toString("latin1")}`);
      // base64 at any alignment: p[k..k+30) is 3-byte aligned in the
      // encoded blob for one k in 0..2, and 30 bytes encode without padding.
      for (let k = 0; k < 3; k++) {
        check(!asText.includes(p.subarray(k, k + 30).toString("base64")), `plaintext (base64) found in ${f}`);
      }
      check(!asText.includes(head.toString("hex")), `plaintext (hex) found in ${f}`);
    }
  }
  return { actions, files: files.length };
}

async function main() {
  const t0 = Date.now();
  check(!existsSync(store), `${store} exists already`);
  const { verifierKey, token } = initStore(opt.mlsgatectl, store);
  daemon = new Daemon(opt.mlsgated, store, { pidFile: join(opt.dir, "mlsgated.pid"), keepLog: true });
  const addr = await daemon.start();
  api = new Api(addr, token);
  const h = await api.expect(200, "GET", "/v1/health", undefined, { auth: false });
  eq(h.status, "ok", "health");

  let failed = 0;
  const skipped = [];
  for (const suite of suites) {
    const ts = Date.now();
    try {
      await suiteImpl(suite);
    } catch (e) {
      skipped.push(suite);
      log(`SKIP suite ${suite}: ts-mls 1.6.4 cannot run it (${e.message})`);
      continue;
    }
    try {
      const what = await runSuite(suite);
      log(`PASS device simulator suite ${suite} (${what}, ${Date.now() - ts} ms)`);
    } catch (e) {
      failed++;
      log(`FAIL device simulator suite ${suite}: ${e instanceof TestFailure ? e.message : e.stack}`);
      log(daemon.tail(15));
      if (!daemon.running) break;
    }
  }
  api.close();
  await daemon.stop();
  try {
    const { actions, files } = checkAudit(verifierKey, token, daemon.allLines);
    log(`PASS audit: export verifies; ${[...actions].map(([k, n]) => `${k} x${n}`).join(", ")}; `
      + `${sentPlaintexts.length} plaintexts absent from the export, ${files - 1} store files and `
      + `${daemon.allLines.length} lines of the daemon's log (the token too)`);
  } catch (e) {
    failed++;
    log(`FAIL audit: ${e instanceof TestFailure ? e.message : e.stack}`);
  }
  log(`device simulator: ${failed === 0 ? "all passed" : `${failed} FAILED`}`
    + `${skipped.length ? `, suites skipped: ${skipped.join(",")}` : ""} (${Date.now() - t0} ms)`);
  return failed === 0 ? 0 : 1;
}

main().then((rc) => process.exit(rc), async (e) => {
  console.log(`FAIL device simulator: ${e instanceof TestFailure ? e.message : e.stack}`);
  if (daemon !== undefined) {
    if (daemon.lines.length) console.log(daemon.tail());
    await daemon.kill();
  }
  process.exit(1);
});
