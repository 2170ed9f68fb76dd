#!/usr/bin/env bash
# contrib/portq-update against a local HTTP server on loopback: a first
# install, a conditional request that changes nothing, a broken download
# that keeps the installed copy, and an update that portqd reloads.
# Usage: test_portq_update.sh PORTQD DATA_DIR
set -euo pipefail
portqd="$1"
data="$2"
here="$(cd "$(dirname "$0")" && pwd)"
update="$here/../contrib/portq-update"
work="$(mktemp -d /tmp/portq-update-test.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
pass=0; fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAILED: $*"; fail=$((fail + 1)); }

mkdir -p "$work/www" "$work/lib"
cp "$data/service-names-port-numbers.csv" "$work/www/registry.csv"
touch -d '2026-01-01 00:00:00' "$work/www/registry.csv"
python3 -m http.server 0 --bind 127.0.0.1 --directory "$work/www" >"$work/http.log" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 50); do
	port="$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/http.log" | head -n 1)"
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "FAILED: http server did not start"; cat "$work/http.log"; exit 1; }
url="http://127.0.0.1:$port/registry.csv"
dest="$work/lib/service-names-port-numbers.csv"

# 1. First install.
if "$update" --url "$url" --dest "$dest" --portqd "$portqd" && cmp -s "$dest" "$work/www/registry.csv"; then
	ok "first download installed"
else
	bad "first download"
fi

# 2. Unchanged: a conditional request, answered 304.
out="$("$update" --url "$url" --dest "$dest" --portqd "$portqd")"
if echo "$out" | grep -q "is current" && grep -q '" 304 ' "$work/http.log"; then
	ok "unchanged registry: 304, nothing replaced"
else
	bad "conditional request ($out)"
fi

# 3. A broken registry is refused and the installed copy kept.
printf 'Service Name,Port Number,Transport Protocol,Description\nbad,99999,tcp,x\n' >"$work/www/registry.csv"
touch -d '2026-02-01 00:00:00' "$work/www/registry.csv"
if "$update" --url "$url" --dest "$dest" --portqd "$portqd" 2>"$work/err"; then
	bad "broken download was accepted"
elif grep -q ':2: bad port number' "$work/err" && cmp -s "$dest" "$data/service-names-port-numbers.csv"; then
	ok "broken download refused with file:line, installed copy kept"
else
	bad "broken download handling: $(cat "$work/err")"
fi

# 4. A real change: installed, and a running portqd reloads it.
"$portqd" --registry "$dest" --listen 127.0.0.1:0 --watch no 2>"$work/portqd.log" &
pqd=$!
pids+=($pqd)
echo "$pqd" >"$work/portqd.pid"
for _ in $(seq 50); do grep -q "serving" "$work/portqd.log" && break; sleep 0.1; done
cp "$data/service-names-port-numbers.csv" "$work/www/registry.csv"
echo 'portq-update-test,40002,tcp,added upstream,,,,,,,,' >>"$work/www/registry.csv"
touch -d '2026-03-01 00:00:00' "$work/www/registry.csv"
"$update" --url "$url" --dest "$dest" --portqd "$portqd" --pidfile "$work/portqd.pid" >/dev/null
reloaded=0
for _ in $(seq 100); do
	if grep -q "reloaded: 14501 records" "$work/portqd.log"; then reloaded=1; break; fi
	sleep 0.1
done
if [ "$reloaded" -eq 1 ] && cmp -s "$dest" "$work/www/registry.csv"; then
	ok "update installed and portqd reloaded it"
else
	bad "update + reload"; cat "$work/portqd.log"
fi
kill -TERM "$pqd"
wait "$pqd" && ok "portqd exited 0 on SIGTERM" || bad "portqd exit status"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
