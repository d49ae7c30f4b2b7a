// Checks the Merkle proofs and signed checkpoints that our C code produced
// (tests/tlog_interop_gen, JSON) with an independent implementation: the
// RFC 6962 inclusion-proof verifier and the signed-note checkpoint verifier
// of sigstore-js (@sigstore/verify, pinned in package-lock.json).
//
//   node verify.mjs IN.json
//
// Covered independently: leaf hashing and inclusion proofs (every proof of
// every tree, and a mutation of each that must fail), checkpoint signatures
// (Ed25519 over the note text, the signature line's 4-byte key ID) and the
// checkpoint body (origin, size, root), and the C2SP tlog proofs, whose
// lines are split here and whose content goes through the same verifiers.
// The key ID and verifier key string are recomputed here from the spec's
// formula with node:crypto.
//
// Not covered here: consistency proofs.  No npm package we found implements
// RFC 6962/9162 consistency-proof verification (sigstore-js verifies
// inclusion only); tests/tlog-interop/verify.go checks them against
// golang.org/x/mod/sumdb/tlog when its Debian packages are installed, and
// tests/check_tlog.c against the RFC's recursive definitions.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';

const require = createRequire(import.meta.url);
const merkle = require('@sigstore/verify/dist/tlog/merkle.js');
const checkpoint = require('@sigstore/verify/dist/tlog/checkpoint.js');

const data = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    if (failed <= 20) console.log(`FAIL: ${what}`);
  }
}
function throws(fn) {
  try {
    fn();
    return false;
  } catch (e) {
    return true;
  }
}
const b64 = (s) => Buffer.from(s, 'base64');

// The key: ID = SHA-256(name || 0x0A || 0x01 || pub)[:4] (c2sp signed-note).
const pub = b64(data.public_key);
const keyId = crypto.createHash('sha256')
  .update(Buffer.concat([Buffer.from(data.origin), Buffer.from([0x0a, 0x01]), pub]))
  .digest().subarray(0, 4);
const vkey = `${data.origin}+${keyId.toString('hex')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`;
check(vkey === data.vkey, `verifier key string ${data.vkey} != ${vkey}`);
const publicKey = crypto.createPublicKey({
  key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') },
  format: 'jwk',
});
// sigstore looks a log up by the first 4 bytes of its log ID (the key ID of
// the signature line) and a base URL that contains the key name.
const tlogs = [{
  logID: Buffer.concat([keyId, Buffer.alloc(28)]),
  baseURL: `https://${data.origin}`,
  publicKey,
}];
const entries = data.entries.map((e) => Buffer.from(e, 'utf8'));

function verifyInclusion(index, hashes, size, root, body) {
  merkle.verifyMerkleInclusion(
    { inclusionProof: { logIndex: String(index), hashes }, canonicalizedBody: body },
    { logSize: BigInt(size), logHash: root });
}

function verifyCheckpoint(envelope) {
  return checkpoint.verifyCheckpoint({ inclusionProof: { checkpoint: { envelope } } }, tlogs);
}

for (const tree of data.trees) {
  const root = b64(tree.root);
  // The signed checkpoint.
  let cp = null;
  try {
    cp = verifyCheckpoint(tree.checkpoint);
  } catch (e) {
    check(false, `checkpoint of size ${tree.size}: ${e.message}`);
  }
  if (cp !== null) {
    check(cp.origin === data.origin && cp.logSize === BigInt(tree.size) &&
          Buffer.compare(cp.logHash, root) === 0 && cp.rest.length === 0,
          `checkpoint body of size ${tree.size}`);
  }
  const tampered = tree.checkpoint.replace(`\n${tree.size}\n`, `\n${tree.size + 1}\n`);
  check(throws(() => verifyCheckpoint(tampered)), `tampered checkpoint of size ${tree.size} accepted`);
  // Every inclusion proof, and mutations.
  for (const p of tree.inclusion) {
    const hashes = p.hashes.map(b64);
    const what = `inclusion ${p.index} in ${tree.size}`;
    check(!throws(() => verifyInclusion(p.index, hashes, tree.size, root, entries[p.index])), what);
    const other = entries[(p.index + 1) % entries.length];
    check(throws(() => verifyInclusion(p.index, hashes, tree.size, root, other)), `${what}: other entry accepted`);
    if (hashes.length > 0) {
      const bad = hashes.map((h) => Buffer.from(h));
      bad[bad.length - 1][0] ^= 1;
      check(throws(() => verifyInclusion(p.index, bad, tree.size, root, entries[p.index])), `${what}: flipped hash accepted`);
      check(throws(() => verifyInclusion(p.index, hashes.slice(1), tree.size, root, entries[p.index])), `${what}: short proof accepted`);
    }
  }
  // The C2SP tlog proofs: header, optional extra, index, hashes, blank line,
  // then the checkpoint verbatim.
  for (const text of tree.tlog_proofs) {
    const lines = text.split('\n');
    let i = 0;
    check(lines[i++] === 'c2sp.org/tlog-proof@v1', 'tlog proof header');
    if (lines[i].startsWith('extra ')) i++;
    const m = /^index (0|[1-9][0-9]*)$/.exec(lines[i++]);
    check(m !== null, `tlog proof index line: ${lines[i - 1]}`);
    if (m === null) continue;
    const index = Number(m[1]);
    const hashes = [];
    while (lines[i] !== '') hashes.push(b64(lines[i++]));
    i++;
    const envelope = lines.slice(i).join('\n');
    let pc = null;
    try {
      pc = verifyCheckpoint(envelope);
    } catch (e) {
      check(false, `tlog proof checkpoint: ${e.message}`);
      continue;
    }
    check(!throws(() => verifyInclusion(index, hashes, pc.logSize, pc.logHash, entries[index])),
          `tlog proof for ${index} in ${tree.size}`);
  }
}
console.log(`tlog interop (@sigstore/verify): ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
