#!/usr/bin/env bash
# contrib/portq-update against a local HTTP server on loopback: a first
# install, a conditional request that changes nothing, a broken download
# that keeps the installed copy, an update that portqd reloads (the copy
# it replaced kept as .prev), downloads that hold too little (a comment,
# one row) refused, --force, and a run as an unprivileged user.
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
# A background job opens its own redirections only once it runs: the logs
# the loops below read must exist before, or a read races the job's start
# (set -e then ends the script).
: >"$work/http.log"
: >"$work/redirect.log"
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
out="$("$update" --url "$url" --dest "$dest" --portqd "$portqd" --reload-cmd "touch $work/reloaded-2")"
if [ -e "$work/reloaded-2" ]; then
	bad "--reload-cmd ran although nothing was installed"
elif echo "$out" | grep -q "is current" && grep -q '" 304 ' "$work/http.log"; then
	ok "unchanged registry: 304, nothing replaced, no reload asked"
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
"$update" --url "$url" --dest "$dest" --portqd "$portqd" --pidfile "$work/portqd.pid" \
	--reload-cmd "touch $work/reloaded-4" >/dev/null
[ -e "$work/reloaded-4" ] && ok "--reload-cmd ran after the install" || bad "--reload-cmd did not run"
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
if cmp -s "$dest.prev" "$data/service-names-port-numbers.csv"; then
	ok "the replaced copy kept as $(basename "$dest").prev"
else
	bad "no .prev copy of the replaced registry"
fi

# 5. A 200 answer holding only a comment (an error page, a cut transfer):
# refused, as a CSV, for holding no records; the installed copy stays.
cp "$dest" "$work/installed"
printf '# service temporarily unavailable\n' >"$work/www/registry.csv"
touch -d '2026-04-01 00:00:00' "$work/www/registry.csv"
if "$update" --url "$url" --dest "$dest" --portqd "$portqd" 2>"$work/err"; then
	bad "a comment-only download was installed"
elif cmp -s "$dest" "$work/installed"; then
	ok "comment-only download refused ($(grep -m1 'registry.csv\|downloaded' "$work/err"))"
else
	bad "comment-only download: $(cat "$work/err")"
fi

# 6. The header and one row: a valid CSV, but it would drop 14,500 of
# 14,501 records: refused by the shrink rule.
head -n 2 "$data/service-names-port-numbers.csv" >"$work/www/registry.csv"
touch -d '2026-05-01 00:00:00' "$work/www/registry.csv"
if "$update" --url "$url" --dest "$dest" --portqd "$portqd" 2>"$work/err"; then
	bad "a 1-record download was installed"
elif grep -q 'would drop 14500 of 14501 records' "$work/err" && grep -q -- '--force' "$work/err" &&
	cmp -s "$dest" "$work/installed"; then
	ok "1-record download refused by the shrink rule, installed copy kept"
else
	bad "1-record download: $(cat "$work/err")"
fi
# 7. --force takes a shrunken registry (never an empty one).
head -n 50 "$data/service-names-port-numbers.csv" >"$work/www/registry.csv"
touch -d '2026-06-01 00:00:00' "$work/www/registry.csv"
if "$update" --url "$url" --dest "$dest" --portqd "$portqd" --force >/dev/null 2>"$work/err" &&
	cmp -s "$dest" "$work/www/registry.csv" && cmp -s "$dest.prev" "$work/installed"; then
	ok "--force installs a shrunken registry, the previous one kept as .prev"
else
	bad "--force: $(cat "$work/err")"
fi
head -n 1 "$data/service-names-port-numbers.csv" >"$work/www/registry.csv"
touch -d '2026-07-01 00:00:00' "$work/www/registry.csv"
if "$update" --url "$url" --dest "$dest" --portqd "$portqd" --force 2>"$work/err"; then
	bad "--force installed a registry without records"
else
	ok "--force still refuses a registry without records"
fi
kill -TERM "$pqd"
wait "$pqd" && ok "portqd exited 0 on SIGTERM" || bad "portqd exit status"

# 8. No root needed: an unprivileged user that owns the folder updates it.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$work/unpriv"
	chown 65534:65534 "$work/unpriv"
	chmod 0755 "$work"
	cp "$data/service-names-port-numbers.csv" "$work/www/registry.csv"
	touch -d '2026-08-01 00:00:00' "$work/www/registry.csv"
	if setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$update" --url "$url" --dest "$work/unpriv/registry.csv" --portqd "$portqd" \
		>"$work/out" 2>&1 && cmp -s "$work/unpriv/registry.csv" "$work/www/registry.csv"; then
		ok "installed by an unprivileged user (uid 65534)"
	else
		bad "unprivileged run: $(cat "$work/out")"
	fi
else
	echo "skipped: the unprivileged run needs root and setpriv to switch users"
fi

# 9. A fresh install (nothing to compare with) of a registry far too small
# for the IANA one is refused (--min-records, 1000), unless --force.
head -n 50 "$data/service-names-port-numbers.csv" >"$work/www/registry.csv"
touch -d '2026-09-01 00:00:00' "$work/www/registry.csv"
fresh="$work/lib/fresh.csv"
if "$update" --url "$url" --dest "$fresh" --portqd "$portqd" 2>"$work/err"; then
	bad "a 49-row registry was installed on a fresh install"
elif grep -q 'fewer than --min-records (1000)' "$work/err" && [ ! -e "$fresh" ]; then
	ok "fresh install of a 49-row registry refused ($(grep -o 'holds [0-9]* records' "$work/err"))"
else
	bad "fresh small install: $(cat "$work/err")"
fi
"$update" --url "$url" --dest "$fresh" --portqd "$portqd" --min-records 10 >/dev/null 2>"$work/err" &&
	ok "--min-records 10 takes it" || bad "--min-records 10: $(cat "$work/err")"

# 10. An installed copy that does not load (here: not UTF-8) leaves no
# baseline for the shrink rule: refused unless --force.
printf 'Service Name,Port Number,Transport Protocol,Description
caf\xe9,1,tcp,x
' >"$work/lib/bad.csv"
touch -d "2020-01-01 00:00:00" "$work/lib/bad.csv"
cp "$work/lib/bad.csv" "$work/bad-before"
cp "$data/service-names-port-numbers.csv" "$work/www/registry.csv"
touch -d '2026-10-01 00:00:00' "$work/www/registry.csv"
if "$update" --url "$url" --dest "$work/lib/bad.csv" --portqd "$portqd" 2>"$work/err"; then
	bad "installed over a copy that does not load, without --force"
elif grep -q 'does not load, so the shrink rule cannot be applied' "$work/err" &&
	cmp -s "$work/lib/bad.csv" "$work/bad-before"; then
	ok "an installed copy that does not load: refused without --force"
else
	bad "unloadable installed copy: $(cat "$work/err")"
fi
"$update" --url "$url" --dest "$work/lib/bad.csv" --portqd "$portqd" --force >/dev/null 2>"$work/err" &&
	cmp -s "$work/lib/bad.csv" "$work/www/registry.csv" && ok "... and --force replaces it" ||
	bad "--force over an unloadable copy: $(cat "$work/err")"

# 11. A redirect to plain http is not followed (--proto-redir =https).
python3 - "$port" >"$work/redirect.log" 2>&1 <<'PY' &
import http.server, sys
class R(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:%s/registry.csv" % sys.argv[1])
        self.end_headers()
s = http.server.HTTPServer(("127.0.0.1", 0), R)
print("port", s.server_address[1], flush=True)
s.serve_forever()
PY
pids+=($!)
rport=""
for _ in $(seq 50); do
	rport="$(sed -n 's/^port \([0-9]*\)/\1/p' "$work/redirect.log")"
	[ -n "$rport" ] && break
	sleep 0.1
done
if [ -z "$rport" ]; then
	bad "redirecting server did not start: $(cat "$work/redirect.log")"
elif "$update" --url "http://127.0.0.1:$rport/registry.csv" --dest "$work/lib/redir.csv" \
	--portqd "$portqd" 2>"$work/err"; then
	bad "a redirect to http was followed"
elif grep -qi 'protocol' "$work/err" && [ ! -e "$work/lib/redir.csv" ]; then
	ok "a redirect to http refused ($(grep -m1 -i protocol "$work/err"))"
else
	bad "redirect to http: $(cat "$work/err")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
