#!/bin/sh
# The three lists of mlsgated's HTTP routes must agree (issue 6):
#   (a) what the daemon serves: `mlsgated --routes` ("METHOD PATH SCOPE"
#       lines, "-" for no token),
#   (b) the routes table of docs/api.md (| Method | Path | Scope | ... |),
#   (c) docs/openapi.yaml: its paths x methods and the scope each operation
#       documents (security requirement roles and x-scopes).
# Any route missing from one list, or with another scope, fails the test by
# name.  It also checks openapi.yaml itself: OpenAPI 3.1, every `$ref`
# resolves, every operation has a 4xx application/problem+json response,
# path parameters are declared, the creating POSTs take Idempotency-Key,
# and docs/api.md has a section per route.
#
# mlsgated must be built: a missing binary is a failure, never a skip.
# YAML is read with PyYAML (Debian python3-yaml, scripts/install-deps.sh).
set -u

builddir="${top_builddir:-.}"
srcdir="${top_srcdir:-$(dirname "$0")/..}"
daemon="$builddir/mlsgated"
if [ ! -x "$daemon" ]; then
  echo "openapi_check.sh: FAIL: $daemon is not built (the route list comes from 'mlsgated --routes')"
  exit 1
fi

# A python3 that has PyYAML: the one on PATH, else Debian's.
py=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then
    py=$p
    break
  fi
done
if [ -z "$py" ]; then
  echo "openapi_check.sh: FAIL: no python3 with PyYAML (install python3-yaml: scripts/install-deps.sh)"
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsgate-openapi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

"$daemon" --routes >"$tmp/routes" 2>"$tmp/routes.err"
rc=$?
if [ $rc -ne 0 ]; then
  echo "openapi_check.sh: FAIL: mlsgated --routes exited $rc: $(cat "$tmp/routes.err")"
  exit 1
fi

"$py" - "$tmp/routes" "$srcdir/docs/api.md" "$srcdir/docs/openapi.yaml" <<'PY'
import re
import sys

import yaml

routes_file, md_file, oa_file = sys.argv[1:4]
fails = []
checks = 0


def fail(msg):
    fails.append(msg)


def ok():
    global checks
    checks += 1


METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Creating POSTs that accept Idempotency-Key (docs/api.md, "Idempotency").
CREATING = {("POST", "/v1/identities"),
            ("POST", "/v1/identities/{name}/key-packages"),
            ("POST", "/v1/conversations"),
            ("POST", "/v1/conversations/join"),
            ("POST", "/v1/conversations/{id}/commit")}

# (a) mlsgated --routes
daemon = {}
with open(routes_file, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            fail("mlsgated --routes line %d is not 'METHOD PATH SCOPE': %r" % (n, line))
            continue
        key = (parts[0], parts[1])
        if key in daemon:
            fail("mlsgated --routes lists %s %s twice" % key)
        daemon[key] = parts[2]
if not daemon:
    fail("mlsgated --routes printed no route")


# (b) the routes table of docs/api.md
def cells(line):
    return [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]


with open(md_file, encoding="utf-8") as f:
    md = f.read().splitlines()
doc = {}
hdr = None
for i, line in enumerate(md):
    if line.strip().startswith("|") and cells(line)[:4] == ["Method", "Path", "Scope", "Description"]:
        if hdr is not None:
            fail("docs/api.md has two routes tables (lines %d and %d)" % (hdr + 1, i + 1))
        hdr = i
if hdr is None:
    fail("docs/api.md has no '| Method | Path | Scope | Description |' table")
else:
    if hdr + 1 >= len(md) or not re.match(r"^\s*\|[\s:|-]+\|\s*$", md[hdr + 1]):
        fail("docs/api.md: the routes table has no separator line")
    for j in range(hdr + 2, len(md)):
        line = md[j]
        if not line.strip().startswith("|"):
            break
        c = cells(line)
        if len(c) != 4 or not all(c):
            fail("docs/api.md line %d: a routes row needs 4 non-empty cells: %r" % (j + 1, line))
            continue
        key = (c[0], c[1])
        if key in doc:
            fail("docs/api.md lists %s %s twice" % key)
        doc[key] = c[2]

# (c) docs/openapi.yaml
with open(oa_file, encoding="utf-8") as f:
    oa = yaml.safe_load(f)
if not isinstance(oa, dict):
    print("openapi_check.sh: FAIL: docs/openapi.yaml is not a YAML mapping")
    sys.exit(1)
if not str(oa.get("openapi", "")).startswith("3.1."):
    fail("docs/openapi.yaml: openapi is %r, not 3.1.x" % oa.get("openapi"))
else:
    ok()


def resolve(ref):
    """The object a local reference "#/a/b" points at, or None."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return None
    node = oa
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


# Every $ref anywhere resolves.
def walk(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                if resolve(v) is None:
                    fail("docs/openapi.yaml: %s: $ref %r does not resolve" % (where, v))
                else:
                    ok()
            else:
                walk(v, where + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, "%s[%d]" % (where, i))


walk(oa, "#")


def deref(o):
    seen = 0
    while isinstance(o, dict) and "$ref" in o and seen < 20:
        o = resolve(o["$ref"])
        seen += 1
    return o


schemes = (oa.get("components") or {}).get("securitySchemes") or {}
global_sec = oa.get("security")
spec = {}
paths = oa.get("paths") or {}
for path, item in paths.items():
    if not isinstance(item, dict):
        fail("docs/openapi.yaml: path %s is not a mapping" % path)
        continue
    path_params = [p for p in (item.get("parameters") or [])]
    for m in METHODS:
        op = item.get(m)
        if op is None:
            continue
        key = (m.upper(), path)
        name = "%s %s" % key
        # The documented scope: the roles of its security requirement and
        # x-scopes must say the same thing.
        sec = op.get("security", global_sec)
        xs = op.get("x-scopes")
        if sec is None:
            fail("docs/openapi.yaml: %s has no security (use [] for none)" % name)
            scope = "?"
        elif sec == []:
            scope = "-"
            if xs not in (None, []):
                fail("docs/openapi.yaml: %s has no security but x-scopes %r" % (name, xs))
        else:
            roles = set()
            for req in sec:
                for sname, r in (req or {}).items():
                    if sname not in schemes:
                        fail("docs/openapi.yaml: %s uses unknown security scheme %s" % (name, sname))
                    roles.update(r or [])
            if len(roles) != 1:
                fail("docs/openapi.yaml: %s must name exactly one scope in its security requirement, has %r"
                     % (name, sorted(roles)))
                scope = "?"
            else:
                scope = roles.pop()
            if xs != [scope]:
                fail("docs/openapi.yaml: %s: x-scopes %r differs from its security scope %r" % (name, xs, scope))
        spec[key] = scope
        # Responses: at least one 4xx in application/problem+json.
        resp = op.get("responses") or {}
        problem4xx = False
        for code, r in resp.items():
            code = str(code)
            r = deref(r)
            if not isinstance(r, dict):
                continue
            if code.startswith("4") and "application/problem+json" in (r.get("content") or {}):
                problem4xx = True
        if problem4xx:
            ok()
        else:
            fail("docs/openapi.yaml: %s has no 4xx application/problem+json response" % name)
        if not any(str(c).startswith("2") for c in resp):
            fail("docs/openapi.yaml: %s has no 2xx response" % name)
        # Parameters: every {param} of the path declared in: path.
        params = [deref(p) for p in path_params + (op.get("parameters") or [])]
        declared = {(p.get("in"), p.get("name")) for p in params if isinstance(p, dict)}
        for pn in re.findall(r"\{([^}]+)\}", path):
            if ("path", pn) not in declared:
                fail("docs/openapi.yaml: %s does not declare path parameter %s" % (name, pn))
        has_idem = any(n.lower() == "idempotency-key" and w == "header" for w, n in declared)
        if key in CREATING and not has_idem:
            fail("docs/openapi.yaml: %s (a creating POST) has no Idempotency-Key header parameter" % name)
        if key not in CREATING and has_idem:
            fail("docs/openapi.yaml: %s takes Idempotency-Key but is not a creating POST" % name)
        oid = op.get("operationId")
        if not oid:
            fail("docs/openapi.yaml: %s has no operationId" % name)

# docs/api.md: a section per route ("### `METHOD PATH`").
headings = set()
for line in md:
    m = re.match(r"^#{2,4}\s+`?([A-Z]+) (/\S*?)`?\s*$", line)
    if m:
        headings.add((m.group(1), m.group(2)))


# The three lists against each other.
def compare(a_name, a, b_name, b):
    for key in sorted(set(a) | set(b)):
        r = "%s %s" % key
        if key not in b:
            fail("%s: listed by %s, missing from %s" % (r, a_name, b_name))
        elif key not in a:
            fail("%s: listed by %s, missing from %s" % (r, b_name, a_name))
        elif a[key] != b[key]:
            fail("%s: scope %r in %s but %r in %s" % (r, a[key], a_name, b[key], b_name))
        else:
            ok()


compare("mlsgated --routes", daemon, "docs/api.md", doc)
compare("mlsgated --routes", daemon, "docs/openapi.yaml", spec)
for key in sorted(daemon):
    if key not in headings:
        fail("%s %s: docs/api.md has no section '### `%s %s`'" % (key + key))
    else:
        ok()

for msg in fails:
    print("openapi_check.sh: FAIL: " + msg)
print("openapi_check.sh: %d routes, %d checks passed, %d failed"
      % (len(daemon), checks, len(fails)))
sys.exit(1 if fails else 0)
PY
exit $?
