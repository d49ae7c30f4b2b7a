// Reference driver for tests/interop/scenarios.mjs: the driver protocol of
// tests/interop/README.md ("Live scenarios") implemented with ts-mls itself.
// It lets scenarios.mjs be validated ts-mls against ts-mls; the C driver
// (tests/interop_driver) implements the same protocol with our group engine.
//
// Usage: node tsmls_driver.mjs   (requests on stdin, responses on stdout,
// one JSON object per line; logging on stderr only)
import { createInterface } from "node:readline";
import {
  acceptAll, ciphersuites, createApplicationMessage, createCommit, createGroup, createProposal,
  decodeMlsMessage, defaultCapabilities, defaultLifetime, encodeMlsMessage, generateKeyPackage,
  generateKeyPackageWithKey, getCiphersuiteFromName, getCiphersuiteImpl, joinGroup, makePskIndex,
  mlsExporter, processPrivateMessage, processPublicMessage,
} from "ts-mls";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { bytesToBase64 } from "ts-mls/util/byteArray.js";
import { p256, p384, p521 } from "@noble/curves/nist.js";

// mg_err codes (include/mlsgate/err.h) used for error responses.
const E = {
  DECODE: -100, HEX: -107, PROTOCOL: -200, UNSUPPORTED: -201, WIRE_FORMAT: -202, EPOCH: -217,
  CONTENT_TYPE: -219, GENERATION: -223, PROPOSAL: -225, PSK: -226, WELCOME: -228, CRYPTO: -300,
  VERIFY: -303, NOT_FOUND: -400, CONFLICT: -500, INTERNAL: -900, INVALID_ARG: -902,
};

class DriverError extends Error {
  constructor(code, msg) { super(msg); this.code = code; }
}
const fail = (code, msg) => { throw new DriverError(code, msg); };

const hex = (u8) => Buffer.from(u8).toString("hex");
function unhex(s, what) {
  if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    fail(E.HEX, `${what}: not a hex string`);
  }
  return new Uint8Array(Buffer.from(s, "hex"));
}
const names = Object.fromEntries(Object.entries(ciphersuites).map(([n, id]) => [id, n]));
const ecdsaCurves = { 2: p256, 5: p521, 7: p384 };
const impls = new Map();
async function suiteImpl(id) {
  if (!impls.has(id)) {
    if (names[id] === undefined) fail(E.UNSUPPORTED, `unknown cipher suite ${id}`);
    impls.set(id, await getCiphersuiteImpl(getCiphersuiteFromName(names[id])));
  }
  return impls.get(id);
}

// client name -> { suite, impl, identity, signKeys, pending: [{publicPackage, privatePackage}],
//                  state, psks: {base64(id): secret}, removed }
const clients = new Map();

function client(req) {
  if (typeof req.client !== "string") fail(E.INVALID_ARG, "client: missing");
  const c = clients.get(req.client);
  if (c === undefined) fail(E.NOT_FOUND, `no client ${req.client}`);
  return c;
}
function group(req) {
  const c = client(req);
  if (c.state === undefined) fail(E.NOT_FOUND, `client ${req.client} has no group`);
  if (c.removed) fail(E.PROTOCOL, `client ${req.client} was removed from its group`);
  return c;
}
async function clientFor(req) {
  if (typeof req.client !== "string") fail(E.INVALID_ARG, "client: missing");
  if (!Number.isInteger(req.suite)) fail(E.INVALID_ARG, "suite: missing");
  const identity = unhex(req.identity, "identity");
  let c = clients.get(req.client);
  if (c !== undefined && c.suite !== req.suite) fail(E.CONFLICT, `client ${req.client} uses suite ${c.suite}`);
  if (c === undefined) {
    const impl = await suiteImpl(req.suite);
    c = { suite: req.suite, impl, identity, pending: [], psks: {}, state: undefined, removed: false };
    // ts-mls 1.6.4 would make a compressed ECDSA public key (README): give it
    // an uncompressed one, kept for every KeyPackage of this client.
    const curve = ecdsaCurves[req.suite];
    if (curve !== undefined) {
      const signKey = curve.utils.randomSecretKey();
      c.signKeys = { signKey, publicKey: curve.getPublicKey(signKey, false) };
    }
    clients.set(req.client, c);
  }
  return c;
}
async function newKeyPackage(c, identity) {
  const cred = { credentialType: "basic", identity };
  return c.signKeys === undefined
    ? generateKeyPackage(cred, defaultCapabilities(), defaultLifetime, [], c.impl)
    : generateKeyPackageWithKey(cred, defaultCapabilities(), defaultLifetime, [], c.signKeys, c.impl);
}
function decodeMessage(s, what = "message") {
  const bytes = unhex(s, what);
  const d = decodeMlsMessage(bytes, 0);
  if (d === undefined || d[1] !== bytes.length) fail(E.DECODE, `${what}: not an MLSMessage`);
  return d[0];
}
const enc = (m) => hex(encodeMlsMessage(m));
const epochOf = (c) => Number(c.state.groupContext.epoch);
const pskIndex = (c) => makePskIndex(c.state, c.psks);

function toProposal(c, p) {
  if (p === null || typeof p !== "object") fail(E.INVALID_ARG, "proposal: not an object");
  if (p.add !== undefined) {
    const m = decodeMessage(p.add.key_package, "add.key_package");
    if (m.wireformat !== "mls_key_package") fail(E.WIRE_FORMAT, "add.key_package: not a KeyPackage");
    return { proposalType: "add", add: { keyPackage: m.keyPackage } };
  }
  if (p.remove !== undefined) {
    if (!Number.isInteger(p.remove)) fail(E.INVALID_ARG, "remove: leaf index expected");
    return { proposalType: "remove", remove: { removed: p.remove } };
  }
  if (p.psk !== undefined) {
    const id = unhex(p.psk.id, "psk.id");
    if (c.psks[bytesToBase64(id)] === undefined) fail(E.PSK, "psk: id not registered");
    return {
      proposalType: "psk",
      psk: { preSharedKeyId: { psktype: "external", pskId: id, pskNonce: c.impl.rng.randomBytes(c.impl.kdf.size) } },
    };
  }
  return fail(E.INVALID_ARG, `proposal: unknown kind ${Object.keys(p).join(",")}`);
}

async function doCommit(c, req, proposals) {
  let state = c.state;
  // ts-mls commits every stored proposal by reference; without by_reference
  // the stored ones are left out (and dropped with the epoch).
  if (!req.by_reference) state = { ...state, unappliedProposals: {} };
  const r = await createCommit({ state, cipherSuite: c.impl, pskIndex: pskIndex(c) },
    { extraProposals: proposals, ratchetTreeExtension: req.ratchet_tree_ext !== false,
      wireAsPublicMessage: req.public === true });
  c.state = r.newState;
  if (c.state.groupActiveState.kind === "removedFromGroup") c.removed = true;
  const res = { commit: enc(r.commit), epoch: epochOf(c) };
  if (r.welcome !== undefined) {
    res.welcome = enc({ version: "mls10", wireformat: "mls_welcome", welcome: r.welcome });
    res.ratchet_tree = hex(encodeRatchetTree(c.state.ratchetTree));
  }
  return res;
}

function mapError(e) {
  if (e instanceof DriverError) return e.code;
  const m = String(e && e.message);
  if (/gen/i.test(m) && /(past|future)/i.test(m)) return E.GENERATION;
  if (/epoch/i.test(m)) return E.EPOCH;
  switch (e && e.constructor && e.constructor.name) {
    case "CodecError": return E.DECODE;
    case "CryptoVerificationError": return E.VERIFY;
    case "ValidationError": return E.PROTOCOL;
    case "UsageError": return E.INVALID_ARG;
    case "CryptoError": return E.CRYPTO;
    case "OpenError": return E.CRYPTO;
    default: return E.INTERNAL;
  }
}

// Process one PrivateMessage or PublicMessage; returns the response fields.
async function processOne(c, m, appOnly) {
  if (m.wireformat === "mls_private_message") {
    const pm = m.privateMessage;
    if (appOnly && pm.contentType !== "application") fail(E.CONTENT_TYPE, "not an application message");
    const epoch = Number(pm.epoch);
    const cur = epochOf(c);
    const sds = epoch === cur ? c.state.keySchedule.senderDataSecret
      : c.state.historicalReceiverData.get(pm.epoch)?.senderDataSecret;
    if (sds === undefined) fail(E.EPOCH, `message of epoch ${epoch}, client at ${cur}`);
    let sd;
    try { sd = await decryptSenderData(pm, sds, c.impl); } catch (e) { fail(E.CRYPTO, `sender data: ${e.message}`); }
    if (sd === undefined) fail(E.DECODE, "sender data does not decode");
    const r = await processPrivateMessage(c.state, pm, pskIndex(c), c.impl, acceptAll);
    if (r.kind === "applicationMessage") {
      c.state = r.newState;
      return { kind: "application", data: hex(r.message), sender_leaf: sd.leafIndex, epoch,
        generation: sd.generation, authenticated_data: hex(pm.authenticatedData) };
    }
    return afterHandshake(c, r.newState, cur);
  }
  if (m.wireformat === "mls_public_message") {
    if (appOnly) fail(E.CONTENT_TYPE, "not an application message");
    const cur = epochOf(c);
    if (Number(m.publicMessage.content.epoch) !== cur) fail(E.EPOCH, "PublicMessage of another epoch");
    const r = await processPublicMessage(c.state, m.publicMessage, pskIndex(c), c.impl, acceptAll);
    return afterHandshake(c, r.newState, cur);
  }
  return fail(E.WIRE_FORMAT, `cannot process ${m.wireformat}`);
}
function afterHandshake(c, st, oldEpoch) {
  c.state = st;
  if (st.groupActiveState.kind === "removedFromGroup") {
    c.removed = true;
    return { kind: "removed", epoch: oldEpoch };
  }
  const e = Number(st.groupContext.epoch);
  return e !== oldEpoch ? { kind: "commit", epoch: e } : { kind: "proposal", epoch: e };
}

const commands = {
  async create_key_package(req) {
    const c = await clientFor(req);
    const kp = await newKeyPackage(c, unhex(req.identity, "identity"));
    c.pending.push(kp);
    return { key_package: enc({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage }) };
  },
  async create_group(req) {
    const c = await clientFor(req);
    const kp = await newKeyPackage(c, unhex(req.identity, "identity"));
    c.state = await createGroup(unhex(req.group_id, "group_id"), kp.publicPackage, kp.privatePackage, [], c.impl);
    c.removed = false;
    return { epoch: epochOf(c), my_leaf: c.state.privatePath.leafIndex };
  },
  async join(req) {
    const c = client(req);
    const m = decodeMessage(req.welcome, "welcome");
    if (m.wireformat !== "mls_welcome") fail(E.WIRE_FORMAT, "welcome: not a Welcome");
    const tree = req.ratchet_tree === undefined ? undefined : decodeRatchetTree(unhex(req.ratchet_tree, "ratchet_tree"), 0)?.[0];
    if (req.ratchet_tree !== undefined && tree === undefined) fail(E.DECODE, "ratchet_tree does not decode");
    for (const [i, kp] of c.pending.entries()) {
      const ref = await makeKeyPackageRef(kp.publicPackage, c.impl.hash);
      if (!m.welcome.secrets.some((s) => Buffer.compare(Buffer.from(s.newMember), Buffer.from(ref)) === 0)) continue;
      c.state = await joinGroup(m.welcome, kp.publicPackage, kp.privatePackage, makePskIndex(undefined, c.psks),
        c.impl, tree);
      c.removed = false;
      c.pending.splice(i, 1);
      return { group_id: hex(c.state.groupContext.groupId), epoch: epochOf(c), my_leaf: c.state.privatePath.leafIndex };
    }
    return fail(E.WELCOME, "Welcome has no secrets for a KeyPackage of this client");
  },
  async add(req) {
    const c = group(req);
    if (!Array.isArray(req.key_packages) || req.key_packages.length === 0) fail(E.INVALID_ARG, "key_packages: none");
    const props = req.key_packages.map((k) => toProposal(c, { add: { key_package: k } }));
    return doCommit(c, { ...req, by_reference: false }, props);
  },
  async commit(req) {
    const c = group(req);
    const list = req.proposals ?? [];
    if (!Array.isArray(list)) fail(E.INVALID_ARG, "proposals: not an array");
    return doCommit(c, req, list.map((p) => toProposal(c, p)));
  },
  async propose(req) {
    const c = group(req);
    const r = await createProposal(c.state, req.public === true, toProposal(c, req.proposal), c.impl);
    c.state = r.newState;
    return { message: enc(r.message), epoch: epochOf(c) };
  },
  async process(req) {
    const c = group(req);
    return processOne(c, decodeMessage(req.message), false);
  },
  async protect(req) {
    const c = group(req);
    const aad = req.authenticated_data === undefined ? new Uint8Array() : unhex(req.authenticated_data, "authenticated_data");
    const r = await createApplicationMessage(c.state, unhex(req.data, "data"), c.impl, aad);
    c.state = r.newState;
    return { message: enc({ version: "mls10", wireformat: "mls_private_message", privateMessage: r.privateMessage }),
      epoch: epochOf(c) };
  },
  async unprotect(req) {
    const c = group(req);
    const r = await processOne(c, decodeMessage(req.message), true);
    delete r.kind;
    return r;
  },
  async epoch_authenticator(req) {
    const c = group(req);
    return { epoch: epochOf(c), value: hex(c.state.keySchedule.epochAuthenticator) };
  },
  async export_secret(req) {
    const c = group(req);
    if (typeof req.label !== "string" || !Number.isInteger(req.length)) fail(E.INVALID_ARG, "label/length");
    const v = await mlsExporter(c.state.keySchedule.exporterSecret, req.label,
      unhex(req.context ?? "", "context"), req.length, c.impl);
    return { value: hex(v) };
  },
  async members(req) {
    const c = group(req);
    const members = [];
    c.state.ratchetTree.forEach((n, i) => {
      if (i % 2 === 0 && n !== undefined && n.nodeType === "leaf") {
        members.push({ leaf: i / 2, identity: hex(n.leaf.credential.identity ?? new Uint8Array()),
          signature_key: hex(n.leaf.signaturePublicKey) });
      }
    });
    return { members };
  },
  async register_psk(req) {
    const c = client(req);
    c.psks[bytesToBase64(unhex(req.psk_id, "psk_id"))] = unhex(req.secret, "secret");
    return {};
  },
};

// Requests are handled strictly one after the other.
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === "") continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    process.stdout.write(JSON.stringify({ id: null, ok: false, error: E.DECODE, msg: "request is not JSON" }) + "\n");
    continue;
  }
  const id = req && Number.isInteger(req.id) ? req.id : null;
  if (req.cmd === "quit") {
    process.stdout.write(JSON.stringify({ id, ok: true }) + "\n");
    break;
  }
  let resp;
  const fn = Object.hasOwn(commands, req.cmd) ? commands[req.cmd] : undefined;
  if (fn === undefined) {
    resp = { id, ok: false, error: E.INVALID_ARG, msg: `unknown cmd ${req.cmd}` };
  } else {
    try {
      resp = { id, ok: true, ...(await fn(req)) };
    } catch (e) {
      // States are values: a failed command leaves the client as it was.
      resp = { id, ok: false, error: mapError(e), msg: `${e && e.constructor ? e.constructor.name : "Error"}: ${e && e.message}` };
    }
  }
  process.stdout.write(JSON.stringify(resp) + "\n");
}
process.exit(0);
