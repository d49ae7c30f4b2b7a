#!/bin/sh
# End-to-end test of mlsgatectl's keystore commands, as an operator would
# run them, in a temporary directory: init, identity create/list/show/
# rotate/revoke/rotate-due, keypackages generate/stats, token create/list/
# revoke (the secret printed once, never listed, not in the store file nor
# the audit log; --expires; bad scopes), their --json output
# (parsed with python3, else node, when one is there), and bad input (no
# store, wrong or unsafe KEK, unknown identity, bad suite, bad duration, bad
# arguments): each exits non-zero with a message on stderr.  Input refused
# before the store is opened, and failed reads, leave the store byte for
# byte as it was; an operation the store refuses (unknown identity or key,
# already revoked, existing name) changes nothing but the audit log, which
# gains one entry naming the action, the object and the error (issue 5: one
# entry per operation, failures and denials alike).
set -u

bin="${top_builddir:-.}/mlsgatectl"
case "$bin" in
  /*) ;;
  *) bin="$(pwd)/$bin" ;;
esac
[ -x "$bin" ] || { echo "cli.sh: $bin not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsgate-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1

fails=0
checks=0
fail() {
  echo "cli.sh: FAIL: $*"
  fails=$((fails + 1))
}
ok() { checks=$((checks + 1)); }

# The JSON checker: python3, else node, else none (the checks are skipped).
if command -v python3 >/dev/null 2>&1; then
  json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)'; }
  json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
elif command -v node >/dev/null 2>&1; then
  json_ok() { node -e 'JSON.parse(require("fs").readFileSync(0,"utf8"))'; }
  json_get() { node -e 'const d=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(eval(process.argv[1]))' "$1"; }
else
  json_ok() { cat >/dev/null; }
  json_get() { cat >/dev/null; echo SKIP; }
  echo "cli.sh: NOTE: neither python3 nor node found; JSON is not parsed"
fi

# run EXPECT CMD...: runs mlsgatectl; EXPECT is 0 (success) or "fail".
# Output in $tmp/out, errors in $tmp/err.
run() {
  expect=$1
  shift
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$expect" = 0 ]; then
    if [ $rc -ne 0 ]; then
      fail "mlsgatectl $* exited $rc: $(cat "$tmp/err")"
      return 1
    fi
  else
    if [ $rc -eq 0 ]; then
      fail "mlsgatectl $* succeeded, expected a failure"
      return 1
    fi
    if [ ! -s "$tmp/err" ]; then
      fail "mlsgatectl $* failed without a message"
      return 1
    fi
  fi
  ok
  return 0
}

# store_state DIR: the store's files and the hash of its data.
store_state() {
  (cd "$1" 2>/dev/null && ls -A && cat data.mdb 2>/dev/null | cksum) 2>&1
}

# bad EXPECTED_MESSAGE_PART CMD...: fails, says so, changes nothing.
bad() {
  want=$1
  shift
  before=$(store_state var)
  if run fail "$@"; then
    grep -qi -- "$want" "$tmp/err" ||
      fail "mlsgatectl $*: message '$(cat "$tmp/err")' lacks '$want'"
  fi
  after=$(store_state var)
  [ "$before" = "$after" ] || fail "mlsgatectl $* changed the store"
  [ ! -s "$tmp/out" ] || fail "mlsgatectl $* printed to stdout on failure"
}

# export_audit: exports ./var's audit log to a new file $export_file and
# sets $export_size to the number of entries it covers (the export then
# appends its own checkpoint entry).
exports=0
export_audit() {
  exports=$((exports + 1))
  export_file="$tmp/audit-$exports.jsonl"
  export_size=-1
  if ! "$bin" audit export --out "$export_file" >/dev/null 2>"$tmp/export-err"; then
    fail "audit export: $(cat "$tmp/export-err")"
    return 1
  fi
  export_size=$(sed -n '1s/.*"size":\([0-9][0-9]*\).*/\1/p' "$export_file")
}

# store_view: what ./var holds apart from its audit log, as the commands
# show it: the identities with their keys, and each one's KeyPackage counts.
store_view() {
  "$bin" --json identity list 2>&1
  for n in $("$bin" identity list 2>/dev/null | awk '{ print $1 }'); do
    MLSGATE_NOW=$now "$bin" --json keypackages stats "$n" 2>&1
  done
}

# bad_audited EXPECTED_MESSAGE_PART ACTION OBJECT RESULT CMD...: the store
# refuses the operation: it fails, says so, changes nothing but the audit
# log, and the log's one new entry is ACTION on OBJECT with result RESULT.
bad_audited() {
  want=$1
  action=$2
  object=$3
  result=$4
  shift 4
  export_audit || return
  size0=$export_size
  view0=$(store_view)
  if run fail "$@"; then
    grep -qi -- "$want" "$tmp/err" ||
      fail "mlsgatectl $*: message '$(cat "$tmp/err")' lacks '$want'"
  fi
  [ ! -s "$tmp/out" ] || fail "mlsgatectl $* printed to stdout on failure"
  view1=$(store_view)
  [ "$view0" = "$view1" ] || fail "mlsgatectl $* changed the store"
  export_audit || return
  # The entries before, the first export's checkpoint, the failure's.
  if [ "$export_size" != $((size0 + 2)) ]; then
    fail "mlsgatectl $*: the audit log went from $size0 to $export_size entries, not one more (besides the export's own)"
    return
  fi
  last=$(tail -n 1 "$export_file")
  for field in "action\\\":\\\"$action" "object\\\":\\\"$object" \
    "result\\\":\\\"$result"; do
    printf '%s\n' "$last" | grep -qF -- "$field\\\"" ||
      fail "mlsgatectl $*: the audit entry lacks $field: $last"
  done
  ok
}

expect_out() {
  grep -q -- "$1" "$tmp/out" || fail "$2: output lacks '$1': $(cat "$tmp/out")"
}

now=$(date +%s)

# ---------------------------------------------------------------- help
run 0 help
expect_out "identity rotate-due" "help"
run 0 identity create --help
expect_out "usage: mlsgatectl .*identity create NAME --suite N" "identity create --help"

# ---------------------------------------------------------------- init
bad "no store" identity list
[ ! -e var ] || fail "a command without a store created ./var"

run 0 init
expect_out "initialized store ./var" "init"
[ -f var/kek ] || fail "init made no var/kek"
mode=$(stat -c %a var/kek 2>/dev/null || stat -f %Lp var/kek)
[ "$mode" = 600 ] || fail "var/kek has mode $mode, not 600"
bad "already" init

# A second store, in JSON, with a KEK kept elsewhere that already exists.
head -c 32 /dev/urandom >"$tmp/kek-b"
chmod 600 "$tmp/kek-b"
run 0 --json --store "$tmp/b" --kek "$tmp/kek-b" init
json_ok <"$tmp/out" || fail "init --json: not JSON"
[ "$(json_get 'd["kek_created"]' <"$tmp/out")" != True ] ||
  fail "init reported creating an existing KEK"
[ ! -e "$tmp/b/kek" ] || fail "init with --kek made a kek in the store"
run 0 --store "$tmp/b" --kek "$tmp/kek-b" identity list

# ---------------------------------------------------------- identities
run 0 identity create acme --suite 1 --rotate-every 90d
expect_out "created identity acme" "identity create"
run 0 identity create beta --suite 2 --rotate-every 12h
run 0 identity create gamma --suite 0x0003
run 0 --json identity create delta --suite 7 --rotate-every 3600s
json_ok <"$tmp/out" || fail "identity create --json: not JSON"
[ "$(json_get 'd["rotate_every"]' <"$tmp/out")" = 3600 ] ||
  fail "delta: rotate_every is not 3600"

run 0 identity list
for n in acme beta gamma delta; do expect_out "^$n " "identity list"; done
run 0 identity list --json # global options after the command too
json_ok <"$tmp/out" || fail "identity list --json: not JSON"
[ "$(json_get 'len(d["identities"])' <"$tmp/out")" = 4 ] ||
  [ "$(json_get 'd["identities"].length' <"$tmp/out")" = 4 ] ||
  [ "$(json_get 1 <"$tmp/out")" = SKIP ] || fail "identity list --json: not 4"

run 0 identity show acme
expect_out "suite    1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)" "show"
expect_out "v1 .* active" "show"
v1=$(awk '$1 == "v1" { print $2 }' "$tmp/out")
[ ${#v1} -eq 32 ] || fail "no 32-digit key ID for v1: '$v1'"

run 0 identity rotate acme
expect_out "v2 .* active" "rotate"
run 0 --json identity rotate acme
json_ok <"$tmp/out" || fail "identity rotate --json: not JSON"
run 0 identity show acme
expect_out "v1 .* retired" "show after rotate"
expect_out "v2 .* retired" "show after rotate"
expect_out "v3 .* active" "show after rotate"
v3=$(awk '$1 == "v3" { print $2 }' "$tmp/out")

run 0 identity revoke acme "$v1"
expect_out "revoked key $v1" "revoke"
run 0 --json identity show acme
json_ok <"$tmp/out" || fail "identity show --json: not JSON"
run 0 identity show acme
expect_out "v1 .* revoked" "show after revoke"
expect_out "v3 .* active" "show after revoke"
# Revoking the active key makes a new one active.
run 0 identity revoke acme "$v3"
run 0 identity show acme
expect_out "v3 .* revoked" "show after revoking the active key"
expect_out "v4 .* active" "show after revoking the active key"

run 0 identity rotate-due
expect_out "rotated 0 identities" "rotate-due now"
MLSGATE_NOW=$((now + 13 * 3600)) run 0 identity rotate-due
expect_out "rotated 2 identities" "rotate-due in 13 hours (beta, delta)"
MLSGATE_NOW=$((now + 13 * 3600)) run 0 --json identity rotate-due
json_ok <"$tmp/out" || fail "rotate-due --json: not JSON"
[ "$(json_get 'd["rotated"]' <"$tmp/out")" != 0 ] || true
run 0 identity show beta
expect_out "v2 .* active" "beta rotated"
run 0 identity show gamma
expect_out "rotate   on demand only" "gamma"

# -------------------------------------------------------- key packages
run 0 keypackages generate acme --count 3
[ "$(grep -c '^[0-9a-f]\{64\}$' "$tmp/out")" = 3 ] ||
  fail "keypackages generate: not 3 refs: $(cat "$tmp/out")"
run 0 --json keypackages generate acme --count 2 --last-resort
json_ok <"$tmp/out" || fail "keypackages generate --json: not JSON"
if command -v python3 >/dev/null 2>&1; then
  python3 -c '
import base64, json, sys
d = json.load(sys.stdin)
assert d["identity"] == "acme" and d["last_resort"] is True, d
assert len(d["key_packages"]) == 2, d
for kp in d["key_packages"]:
    assert len(bytes.fromhex(kp["ref"])) == 32
    b = base64.b64decode(kp["key_package"], validate=True)
    assert b[:4] == b"\x00\x01\x00\x05", b[:4]  # MLSMessage, mls_key_package
' <"$tmp/out" || fail "keypackages generate --json: wrong content"
fi
run 0 keypackages stats acme
expect_out "unused       5" "stats"
expect_out "valid now    5" "stats"
expect_out "last resort  2" "stats"
MLSGATE_NOW=$((now + 91 * 86400)) run 0 --json keypackages stats acme
json_ok <"$tmp/out" || fail "keypackages stats --json: not JSON"
[ "$(json_get 'd["valid"]' <"$tmp/out")" = 0 ] ||
  [ "$(json_get 1 <"$tmp/out")" = SKIP ] || fail "stats in 91 days: valid != 0"

# ----------------------------------------------------------- bad input
bad "no store" --store "$tmp/none" identity list
[ ! -e "$tmp/none" ] || fail "a command created a missing store"
bad "no store" --store "$tmp/none" keypackages stats acme
head -c 32 /dev/urandom >"$tmp/wrong-kek"
chmod 600 "$tmp/wrong-kek"
bad "KEK" --kek "$tmp/wrong-kek" identity list
bad "KEK" --kek "$tmp/wrong-kek" identity create new --suite 1
bad "KEK" --kek "$tmp/missing-kek" identity list
cp var/kek "$tmp/open-kek"
chmod 644 "$tmp/open-kek"
bad "KEK" --kek "$tmp/open-kek" identity list
head -c 16 /dev/urandom >"$tmp/short-kek"
chmod 600 "$tmp/short-kek"
bad "KEK" --kek "$tmp/short-kek" identity list

bad "no identity 'nobody'" identity show nobody
bad_audited "no identity 'nobody'" identity.rotate nobody MG_ERR_NOT_FOUND \
  identity rotate nobody
bad_audited "no identity 'nobody'" keypackage.generate nobody MG_ERR_NOT_FOUND \
  keypackages generate nobody --count 1
bad "no identity 'nobody'" keypackages stats nobody
bad_audited "no identity 'nobody'" identity.revoke nobody MG_ERR_NOT_FOUND \
  identity revoke nobody "$v1"
bad_audited "already revoked" identity.revoke acme MG_ERR_CONFLICT \
  identity revoke acme "$v1"
bad_audited "no identity 'acme' with key" identity.revoke acme MG_ERR_NOT_FOUND \
  identity revoke acme 00000000000000000000000000000000
bad "bad key ID" identity revoke acme 1234
bad_audited "already exists" identity.create acme MG_ERR_EXISTS \
  identity create acme --suite 1
bad "invalid identity name" identity create "a b" --suite 1
bad "invalid identity name" identity show ../etc

bad "cipher suite" identity create new --suite 9
bad "cipher suite" identity create new --suite 0
bad "cipher suite" identity create new --suite abc
bad "cipher suite" identity create new --suite -1
bad "usage" identity create new
bad "duration" identity create new --suite 1 --rotate-every 10x
bad "duration" identity create new --suite 1 --rotate-every 0d
bad "duration" identity create new --suite 1 --rotate-every d
bad "duration" identity create new --suite 1 --rotate-every 90
bad "duration" identity create new --suite 1 --rotate-every 99999999999d

bad "count" keypackages generate acme --count 0
bad "count" keypackages generate acme --count many
bad "usage" keypackages generate acme
bad "unknown option" keypackages generate acme --count 1 --bogus
bad "unknown command" identity frobnicate
bad "unknown command" frobnicate
bad "unexpected argument" identity list extra
bad "needs a value" identity list --store
bad "given twice" --json --store var identity list --store var

# The store still works and holds what it held.
run 0 keypackages stats acme
expect_out "unused       5" "stats after the bad input"
run 0 identity list
[ "$(wc -l <"$tmp/out")" -eq 4 ] || fail "identity list after the bad input"

# -------------------------------------------------------------- tokens
# API tokens (issue 6): the secret is printed once, listed never, stored
# only as its hash (not in the store file, not in the audit log).
run 0 help
expect_out "token create --name N --scopes S1,S2" "help lists token create"
run 0 token create --name ci --scopes conversations,messages
expect_out "created token ci" "token create"
expect_out "expires never" "token create without --expires"
tok=$(grep '^mgt_' "$tmp/out")
[ ${#tok} -eq 47 ] || fail "token create: no 47-character token: $(cat "$tmp/out")"
MLSGATE_NOW=$now run 0 --json token create --name mon --scopes metrics --expires 30d
json_ok <"$tmp/out" || fail "token create --json: not JSON"
tok2=$(json_get 'd["token"]' <"$tmp/out")
case "$tok2" in
  SKIP) ;;
  mgt_*) [ ${#tok2} -eq 47 ] || fail "token create --json: token '$tok2'" ;;
  *) fail "token create --json: token '$tok2'" ;;
esac
for check in 'd["name"] == "mon"' 'd["expires_at"] == '$((now + 30 * 86400)) \
  'd["scopes"] == ["metrics"]' 'd["token"] != "'"$tok"'"'; do
  r=$(json_get "$check" <"$tmp/out")
  [ "$r" = True ] || [ "$r" = true ] || [ "$r" = SKIP ] ||
    fail "token create --json: not $check: $(cat "$tmp/out")"
done
for exp in 3600:3600 90m:5400 12h:43200 1w:604800; do
  MLSGATE_NOW=$now run 0 --json token create --name "t${exp%%:*}" \
    --scopes keys:admin,audit:read --expires "${exp%%:*}"
  r=$(json_get 'd["expires_at"]' <"$tmp/out")
  [ "$r" = $((now + ${exp#*:})) ] || [ "$r" = SKIP ] ||
    fail "token create --expires ${exp%%:*}: expires_at $r"
done
run 0 token list
for n in ci mon t3600 t90m t12h t1w; do expect_out "^$n " "token list"; done
expect_out "^ci .* active .*expires never .*conversations,messages" "token list"
grep -qF "$tok" "$tmp/out" && fail "token list shows a secret"
grep -q 'mgt_' "$tmp/out" && fail "token list shows a secret"
MLSGATE_NOW=$((now + 7200)) run 0 token list
expect_out "^t3600 .* expired" "token list after an hour"
expect_out "^t90m .* expired" "token list after an hour"
expect_out "^t12h .* active" "token list after an hour"
run 0 --json token list
json_ok <"$tmp/out" || fail "token list --json: not JSON"
if command -v python3 >/dev/null 2>&1; then
  python3 -c '
import json, sys
d = json.load(sys.stdin)
names = [t["name"] for t in d["tokens"]]
assert names == ["ci", "mon", "t12h", "t1w", "t3600", "t90m"], names
for t in d["tokens"]:
    assert "token" not in t and len(t["id"]) == 16, t
    assert t["state"] == "active" and t["revoked_at"] is None, t
' <"$tmp/out" || fail "token list --json: wrong content"
fi
grep -q 'mgt_' "$tmp/out" && fail "token list --json shows a secret"
run 0 token revoke ci
expect_out "revoked token ci" "token revoke"
run 0 token list
expect_out "^ci .* revoked" "token list after revoke"
run 0 --json token revoke t1w
json_ok <"$tmp/out" || fail "token revoke --json: not JSON"
bad_audited "already revoked" token.revoke ci MG_ERR_CONFLICT token revoke ci
bad_audited "no token 'nobody'" token.revoke nobody MG_ERR_NOT_FOUND \
  token revoke nobody
bad_audited "already exists" token.create mon MG_ERR_EXISTS \
  token create --name mon --scopes metrics
bad "bad scopes" token create --name x --scopes bogus
bad "bad scopes" token create --name x --scopes ""
bad "bad scopes" token create --name x --scopes conversations,
bad "bad scopes" token create --name x --scopes "conversations, messages"
bad "bad scopes" token create --name x --scopes keys
bad "duration" token create --name x --scopes metrics --expires 10x
bad "duration" token create --name x --scopes metrics --expires 0
bad "duration" token create --name x --scopes metrics --expires -5
bad "duration" token create --name x --scopes metrics --expires 99999999999d
bad "invalid token name" token create --name "a b" --scopes metrics
bad "usage" token create --name x
bad "usage" token create --scopes metrics
bad "unexpected argument" token create extra --name x --scopes metrics
bad "usage" token revoke
bad "invalid token name" token revoke ../x
bad "unexpected argument" token list extra
# Neither secret is in the store file nor in the audit log.
for t in "$tok" "$tok2"; do
  [ "$t" = SKIP ] && continue
  grep -qaF -- "$t" var/data.mdb && fail "a token secret is in var/data.mdb"
  grep -qaF -- "${t#mgt_}" var/data.mdb && fail "a token secret is in var/data.mdb"
done
export_audit
grep -qF -- "${tok#mgt_}" "$export_file" && fail "a token secret is in the audit log"
grep -q 'token\.create' "$export_file" || fail "no token.create audit entry"
grep -q 'token\.revoke' "$export_file" || fail "no token.revoke audit entry"

# --------------------------------------------------------------- audit
# The verifier key init printed (last line of the human report).
run 0 --store "$tmp/audit" --kek "$tmp/kek-audit" init
vk=$(tail -n 1 "$tmp/out" | tr -d ' ')
case "$vk" in
  mlsgate.audit/*+*+*) ok ;;
  *) fail "init printed no audit verifier key: $vk" ;;
esac
A="--store $tmp/audit --kek $tmp/kek-audit"
# audit key prints the same verifier key again.
run 0 $A audit key
[ "$(cat "$tmp/out")" = "$vk" ] || fail "audit key printed $(cat "$tmp/out"), init $vk"
run 0 $A --json audit key
[ "$(json_get 'd["audit_verifier_key"]' <"$tmp/out")" = "$vk" ] ||
  [ "$(json_get 'd["audit_verifier_key"]' <"$tmp/out")" = SKIP ] ||
  fail "audit key --json"
run 0 $A identity create shop --suite 1
run 0 $A audit checkpoint
cp "$tmp/out" "$tmp/cp1"
expect_out "^mlsgate.audit/" "audit checkpoint origin line"
expect_out "^— mlsgate.audit/" "audit checkpoint signature line"
run 0 $A keypackages generate shop --count 2
run 0 $A identity rotate shop
run 0 $A audit export --out "$tmp/exp.jsonl"
expect_out "exported" "audit export"
bad "exists" $A audit export --out "$tmp/exp.jsonl"
run 0 audit verify "$tmp/exp.jsonl" --key "$vk"
expect_out "^OK:" "audit verify"
run 0 audit verify "$tmp/exp.jsonl" --key "$vk" --since "$tmp/cp1"
expect_out "extend the earlier one" "audit verify --since"
run 0 --json audit verify "$tmp/exp.jsonl" --key "$vk"
json_ok <"$tmp/out" || fail "audit verify --json is not JSON"
# An edited entry is named (line 3 is entry 1).
sed '3s/"action/"actiom/' "$tmp/exp.jsonl" >"$tmp/edit.jsonl"
run fail audit verify "$tmp/edit.jsonl" --key "$vk"
grep -q "FAILED at entry 1" "$tmp/out" || fail "edited entry not named: $(cat "$tmp/out")"
# A removed entry and reordered entries are named.
sed '4d' "$tmp/exp.jsonl" >"$tmp/drop.jsonl"
run fail audit verify "$tmp/drop.jsonl" --key "$vk"
grep -q "FAILED at entry 2" "$tmp/out" || fail "removed entry not named: $(cat "$tmp/out")"
awk 'NR==3{l=$0; next} NR==4{print; print l; next} {print}' "$tmp/exp.jsonl" >"$tmp/swap.jsonl"
run fail audit verify "$tmp/swap.jsonl" --key "$vk"
grep -q "FAILED at entry 1" "$tmp/out" || fail "reordered entries not named: $(cat "$tmp/out")"
# Another store's key, a malformed export, a malformed key.
run 0 --store "$tmp/other" --kek "$tmp/kek-other" init
vk2=$(tail -n 1 "$tmp/out" | tr -d ' ')
run fail audit verify "$tmp/exp.jsonl" --key "$vk2"
echo "not an export" >"$tmp/junk.jsonl"
run fail audit verify "$tmp/junk.jsonl" --key "$vk"
run fail audit verify "$tmp/exp.jsonl" --key "not-a-key"
run fail audit verify "$tmp/missing.jsonl" --key "$vk"

# One entry with its inclusion proof (C2SP tlog-proof), checked offline.
run 0 $A audit proof --index 1
cp "$tmp/out" "$tmp/proof.txt"
expect_out "^c2sp.org/tlog-proof@v1" "audit proof header"
run 0 audit verify-proof "$tmp/proof.txt" --key "$vk"
expect_out "^OK: entry 1 is in the signed log" "audit verify-proof"
# The entry (the proof's extra line) changed: refused.
awk '/^extra /{c=substr($0,7,1); r=(c=="A")?"B":"A"; $0="extra " r substr($0,8)} {print}' "$tmp/proof.txt" >"$tmp/proof2.txt"
run fail audit verify-proof "$tmp/proof2.txt" --key "$vk"
run fail audit verify-proof "$tmp/proof.txt" --key "$vk2"
bad "no entry" $A audit proof --index 999999
# The export carries the previous checkpoint and a consistency proof: a
# changed proof hash is refused.
run 0 $A audit export --out "$tmp/exp3.jsonl"
grep -q '"consistency_proof"' "$tmp/exp3.jsonl" || fail "export without a consistency proof"
sed '1s/"consistency_proof":\["\(.\)/"consistency_proof":["x\1/; 1s/\["x0/["1/; 1s/\["x\(.\)/["0/' "$tmp/exp3.jsonl" >"$tmp/exp4.jsonl"
run fail audit verify "$tmp/exp4.jsonl" --key "$vk"
grep -q "not consistent with its previous checkpoint" "$tmp/out" || fail "changed consistency proof: $(cat "$tmp/out")"

# ------------------------------------------------- backup, restore, kek
run 0 $A backup --out "$tmp/backup.mdb"
run 0 --store "$tmp/restored" --kek "$tmp/kek-audit" restore --from "$tmp/backup.mdb"
run 0 --store "$tmp/restored" --kek "$tmp/kek-audit" identity show shop
expect_out "shop" "identity in the restored store"
run fail --store "$tmp/restored" --kek "$tmp/kek-audit" restore --from "$tmp/backup.mdb"
cp "$tmp/kek-audit" "$tmp/kek-old"
chmod 600 "$tmp/kek-old"
run 0 $A kek rotate
run 0 $A identity show shop
run fail --store "$tmp/audit" --kek "$tmp/kek-old" identity list
grep -q "does not open" "$tmp/err" || fail "the old KEK: $(cat "$tmp/err")"
[ ! -e "$tmp/kek-audit.next" ] || fail "kek rotate left kek.next behind"

echo "cli.sh: $checks commands run, $fails failure(s)"
[ $fails -eq 0 ]
