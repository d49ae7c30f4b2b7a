// Produces MLS wire messages with ts-mls (an independent RFC 9420
// implementation) and writes them as hex into a JSON file, for
// tests/check_interop_codec.c to decode, re-encode and verify with our code.
//
// Usage: node tsmls_vectors.mjs OUT.json [SUITE_ID...]   (default: 1..7)
//
// Per suite: alice creates a group, adds bob and carol by KeyPackage (Welcome,
// ratchet tree in the Welcome's GroupInfo), commits an empty path commit
// (update), proposes and commits a remove, sends application messages, and
// publishes a GroupInfo with its ratchet tree and external_pub.  Commits are
// made both as PrivateMessage and as PublicMessage.
import { writeFileSync } from "node:fs";
import {
  createApplicationMessage, createCommit, createGroup, createProposal, joinGroup,
  getCiphersuiteImpl, getCiphersuiteFromName, ciphersuites, defaultCapabilities,
  defaultLifetime, emptyPskIndex, generateKeyPackage, generateKeyPackageWithKey, encodeMlsMessage,
  processMessage, createGroupInfoWithExternalPubAndRatchetTree, acceptAll,
} from "ts-mls";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { p256, p384, p521 } from "@noble/curves/nist.js";

const hex = (u8) => Buffer.from(u8).toString("hex");
const enc = (m) => hex(encodeMlsMessage({ version: "mls10", ...m }));
const utf8 = (s) => new TextEncoder().encode(s);

const out = process.argv[2];
if (!out) {
  console.error("usage: node tsmls_vectors.mjs OUT.json [SUITE_ID...]");
  process.exit(2);
}
const wanted = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [1, 2, 3, 4, 5, 6, 7];
const names = Object.fromEntries(Object.entries(ciphersuites).map(([n, id]) => [id, n]));

async function suiteCase(id) {
  const impl = await getCiphersuiteImpl(getCiphersuiteFromName(names[id]));
  // ts-mls 1.6.4 makes ECDSA signature public keys in compressed form
  // (noble's getPublicKey default), which RFC 9420 §5.1.1 does not allow
  // (UncompressedPointRepresentation of RFC 8446).  For the history we hand
  // it key pairs with the uncompressed public key; one KeyPackage made its
  // default way is kept apart (default_key_package) to check that we reject
  // the compressed form.
  const ecdsa = { 2: p256, 5: p521, 7: p384 }[id];
  const cred = (who) => ({ credentialType: "basic", identity: utf8(who) });
  const kp = (who) => {
    if (ecdsa === undefined) {
      return generateKeyPackage(cred(who), defaultCapabilities(), defaultLifetime, [], impl);
    }
    const signKey = ecdsa.utils.randomSecretKey();
    return generateKeyPackageWithKey(cred(who), defaultCapabilities(), defaultLifetime, [],
      { signKey, publicKey: ecdsa.getPublicKey(signKey, false) }, impl);
  };
  const c = { cipher_suite: id, key_packages: [], welcomes: [], commits: [], proposals: [],
    application: [], group_infos: [], ratchet_trees: [] };
  const dflt = await generateKeyPackage(cred("default"), defaultCapabilities(), defaultLifetime, [], impl);
  c.default_key_package = enc({ wireformat: "mls_key_package", keyPackage: dflt.publicPackage });
  const alice = await kp("alice");
  const bob = await kp("bob");
  const carol = await kp("carol");
  for (const k of [alice, bob, carol]) {
    c.key_packages.push(enc({ wireformat: "mls_key_package", keyPackage: k.publicPackage }));
  }
  let a = await createGroup(utf8(`interop-${id}`), alice.publicPackage, alice.privatePackage, [], impl);

  // Epoch 1: add bob and carol (PublicMessage commit, tree in the Welcome).
  const add = (k) => ({ proposalType: "add", add: { keyPackage: k.publicPackage } });
  let r = await createCommit({ state: a, cipherSuite: impl },
    { extraProposals: [add(bob), add(carol)], ratchetTreeExtension: true, wireAsPublicMessage: true });
  a = r.newState;
  c.commits.push(enc(r.commit));
  c.welcomes.push({ welcome: enc({ wireformat: "mls_welcome", welcome: r.welcome }),
    key_package: c.key_packages[1], init_priv: hex(bob.privatePackage.initPrivateKey),
    ratchet_tree: hex(encodeRatchetTree(a.ratchetTree)) });
  let b = await joinGroup(r.welcome, bob.publicPackage, bob.privatePackage, emptyPskIndex, impl);
  c.ratchet_trees.push(hex(encodeRatchetTree(a.ratchetTree)));

  // Application messages both ways.
  let m = await createApplicationMessage(a, utf8("hello bob"), impl);
  a = m.newState;
  c.application.push(enc({ wireformat: "mls_private_message", privateMessage: m.privateMessage }));
  let p = await processMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: m.privateMessage },
    b, emptyPskIndex, acceptAll, impl);
  b = p.newState;
  m = await createApplicationMessage(b, utf8("hello alice"), impl);
  b = m.newState;
  c.application.push(enc({ wireformat: "mls_private_message", privateMessage: m.privateMessage }));
  p = await processMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: m.privateMessage },
    a, emptyPskIndex, acceptAll, impl);
  a = p.newState;

  // Epoch 2: bob commits an update (empty commit with a path), as PrivateMessage.
  r = await createCommit({ state: b, cipherSuite: impl }, {});
  b = r.newState;
  c.commits.push(enc(r.commit));
  a = (await processMessage(r.commit, a, emptyPskIndex, acceptAll, impl)).newState;
  c.ratchet_trees.push(hex(encodeRatchetTree(a.ratchetTree)));

  // Epoch 3: alice proposes removing carol (PublicMessage proposal), then
  // commits it by reference as a PublicMessage.
  const pr = await createProposal(a, true, { proposalType: "remove", remove: { removed: 2 } }, impl);
  a = pr.newState;
  c.proposals.push(enc(pr.message));
  b = (await processMessage(pr.message, b, emptyPskIndex, acceptAll, impl)).newState;
  r = await createCommit({ state: a, cipherSuite: impl }, { wireAsPublicMessage: true });
  a = r.newState;
  c.commits.push(enc(r.commit));
  b = (await processMessage(r.commit, b, emptyPskIndex, acceptAll, impl)).newState;
  c.ratchet_trees.push(hex(encodeRatchetTree(a.ratchetTree)));

  // Epoch 4: alice proposes (PrivateMessage) and commits an add of a fresh carol.
  const carol2 = await kp("carol2");
  c.key_packages.push(enc({ wireformat: "mls_key_package", keyPackage: carol2.publicPackage }));
  r = await createCommit({ state: a, cipherSuite: impl }, { extraProposals: [add(carol2)] });
  a = r.newState;
  c.commits.push(enc(r.commit));
  c.welcomes.push({ welcome: enc({ wireformat: "mls_welcome", welcome: r.welcome }),
    key_package: c.key_packages[3], init_priv: hex(carol2.privatePackage.initPrivateKey),
    ratchet_tree: hex(encodeRatchetTree(a.ratchetTree)) });
  b = (await processMessage(r.commit, b, emptyPskIndex, acceptAll, impl)).newState;
  c.ratchet_trees.push(hex(encodeRatchetTree(a.ratchetTree)));

  m = await createApplicationMessage(a, utf8("epoch 4"), impl);
  a = m.newState;
  c.application.push(enc({ wireformat: "mls_private_message", privateMessage: m.privateMessage }));

  // The last epoch's GroupInfo (ratchet tree + external_pub extensions) and
  // the same tree on its own: the C side checks its tree hash against it.
  const gi = await createGroupInfoWithExternalPubAndRatchetTree(a, [], impl);
  c.group_infos.push(enc({ wireformat: "mls_group_info", groupInfo: gi }));
  c.group_info_tree = hex(encodeRatchetTree(a.ratchetTree));
  c.epoch = Number(a.groupContext.epoch);
  return c;
}

const res = { generator: "ts-mls", version: "", cases: [], unsupported: [] };
try {
  res.version = JSON.parse((await import("node:fs")).readFileSync(
    new URL("./node_modules/ts-mls/package.json", import.meta.url))).version;
} catch { /* informational only */ }
for (const id of wanted) {
  try {
    res.cases.push(await suiteCase(id));
  } catch (e) {
    res.unsupported.push({ cipher_suite: id, reason: String(e && e.message ? e.message : e) });
  }
}
writeFileSync(out, JSON.stringify(res, null, 1));
console.log(`tsmls_vectors: ts-mls ${res.version}: ${res.cases.length} suites written to ${out}` +
  (res.unsupported.length ? `; unsupported: ${res.unsupported.map((u) => `${u.cipher_suite} (${u.reason})`).join(", ")}` : ""));
