#!/usr/bin/env bash
# Property-based fuzzing of `wfhost serve`'s HTTP API against its own
# OpenAPI document (schemathesis, from PyPI): every generated request must
# get a documented status and content type, a body that fits the schema,
# and never a 5xx. Usage: host/tests/api-fuzz.sh [EXAMPLES_PER_OPERATION]
#
# `positive_data_acceptance` is left out: a request that fits the schema may
# still be refused with 422 when its inputs do not fit the chosen
# workflow's declared inputs, which only the workflow knows.
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="${1:-25}"
venv="$(realpath -m "${WFHOST_FUZZ_VENV:-target/schemathesis-venv}")"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
wfhost=target/debug/wfhost
[ -x "$wfhost" ] || cargo build --locked -q -p wfhost --bin wfhost
home="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$home"' EXIT
mkdir -p "$home/workflows"
cp workflows/hello.yaml workflows/heartbeat.yaml workflows/on-push.yaml workflows/approval.yaml "$home/workflows/"
token="$("$wfhost" --home "$home" token create fuzz)"
"$wfhost" --home "$home" serve --workflows "$home/workflows" --listen 127.0.0.1:0 \
  >"$home/serve.out" 2>"$home/serve.err" &
server=$!
for _ in $(seq 100); do
  grep -q "listening on" "$home/serve.out" 2>/dev/null && break
  sleep 0.1
done
base="$(sed -n 's/^wfhost serve: listening on //p' "$home/serve.out")"
[ -n "$base" ] || { cat "$home/serve.err"; exit 1; }
# Every module compiled once before the fuzzer's 10 s request timeout applies.
python3 -c 'import sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
urllib.request.urlopen(request, timeout=300).read()' "$base/v1/modules" "$token"
# From the temporary home, so schemathesis's cache stays out of the repository.
(cd "$home" && "$venv/bin/schemathesis" run "$base/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance \
  -n "$examples" --request-timeout 10 --seed 1)
kill -0 "$server" || { echo "the server died under fuzzing"; cat "$home/serve.err"; exit 1; }
