#!/usr/bin/env bash
# Checks `connbench page`'s counts against nginx's own, strategy by strategy. nginx serves a static page of N
# images (index.html and img/*.png, written here) over https, HTTP/1.1 and HTTP/2 by ALPN, with its access log on
# and stub_status on a second port. For each strategy, K loads must show in nginx's access log and stub_status
# exactly the requests connbench counted, K × (1 + N) plus the one GET that found the objects, and stub_status
# must have accepted exactly the connections connbench opened, plus the one that found the objects (and, for
# multiplexed, the one that asked whether the server speaks HTTP/2).
#
#   scripts/page-nginx.sh [K] [N]     (loads per strategy, default 10; images, default 30 of 10 KiB)
#
# Needs Debian's nginx and openssl. Starts its own nginx on 127.0.0.1 ($PORT, $STATUS_PORT) with a config in a
# temporary directory (KEEP=DIR keeps it there instead), and stops it on exit. Loopback only, bounded by K.
set -euo pipefail
K=${1:-10}
N=${2:-30}
PORT=${PORT:-26443}
STATUS_PORT=${STATUS_PORT:-26080}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${CONNBENCH:-$here/target/release/connbench}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 2; }

WORKDIR=${KEEP:-$(mktemp -d)}
mkdir -p "$WORKDIR/logs" "$WORKDIR/www/img"
: > "$WORKDIR/logs/access.log"
log() { echo "[page-nginx] $*" >&2; }

# The page and its objects: N images of 10 KiB each, referenced relative to the page.
{
  echo '<!doctype html><html><head><title>page-nginx</title></head><body>'
  for i in $(seq 1 "$N"); do
    head -c 10240 /dev/zero > "$WORKDIR/www/img/$i.png"
    echo "<img src=\"img/$i.png\" alt=\"\">"
  done
  echo '</body></html>'
} > "$WORKDIR/www/index.html"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
  -keyout "$WORKDIR/key.pem" -out "$WORKDIR/cert.pem" 2>/dev/null || { log "openssl could not make a certificate"; exit 2; }
cat > "$WORKDIR/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORKDIR/logs/nginx.pid;
error_log $WORKDIR/logs/error.log warn;
events { worker_connections 1024; }
http {
    log_format counts '\$connection \$server_protocol \$request_method \$uri \$status';
    keepalive_requests 1000;
    keepalive_timeout 60;
    client_body_temp_path $WORKDIR/logs; proxy_temp_path $WORKDIR/logs; fastcgi_temp_path $WORKDIR/logs;
    uwsgi_temp_path $WORKDIR/logs; scgi_temp_path $WORKDIR/logs;
    server {
        listen 127.0.0.1:$STATUS_PORT;
        access_log off;
        location = /status { stub_status; }
    }
    server {
        listen 127.0.0.1:$PORT ssl http2;
        ssl_certificate $WORKDIR/cert.pem;
        ssl_certificate_key $WORKDIR/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
        access_log $WORKDIR/logs/access.log counts;
        root $WORKDIR/www;
    }
}
EOF

for port in "$PORT" "$STATUS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "127.0.0.1:$port is already in use by another process: set PORT and STATUS_PORT to free ports"
    exit 2
  fi
done
nginx -c "$WORKDIR/nginx.conf" -p "$WORKDIR" > "$WORKDIR/logs/nginx.out" 2>&1 &
NGINX_PID=$!
stop() {
  kill -QUIT "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORKDIR"
}
trap stop EXIT
for _ in $(seq 1 50); do # bounded: 5 s
  (exec 3<>"/dev/tcp/127.0.0.1/$STATUS_PORT") 2>/dev/null && break
  sleep 0.1
done

# stub_status: "accepts handled requests" on its third line; the status request itself is one of each.
counters() {
  python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$STATUS_PORT/status').read().decode())" \
    | awk 'NR==3 {print $1, $3}'
}
lines() { wc -l < "$WORKDIR/logs/access.log" 2>/dev/null || echo 0; }

printf '%-12s %9s %9s %9s %12s %12s %7s %s\n' strategy requests log_lines nginx_req connections nginx_conn errors verdict
fail=0
for strategy in serial parallel persistent pipelined multiplexed; do
  read -r acc0 req0 < <(counters)
  log0=$(lines)
  "$bin" page "https://127.0.0.1:$PORT/index.html" --cacert "$WORKDIR/cert.pem" --strategy "$strategy" \
    --loads "$K" --format json > "$WORKDIR/$strategy.json"
  sleep 0.2 # nginx writes its access log line after the response
  read -r acc1 req1 < <(counters)
  log1=$(lines)
  nginx_conn=$((acc1 - acc0 - 1)); nginx_req=$((req1 - req0 - 1)); logged=$((log1 - log0))
  read -r ours_req ours_conn errors < <(python3 -c "
import json; s = json.load(open('$WORKDIR/$strategy.json'))['strategies'][0]
print(s['requests'], s['connections_opened'], sum(s['errors'].values()))")
  # The GET that found the objects; multiplexed also asks on a connection of its own whether h2 is spoken.
  found=1; asked=0; [ "$strategy" = multiplexed ] && asked=1
  verdict=ok
  [ "$ours_req" = $((K * (1 + N))) ] && [ $((ours_req + found)) = "$nginx_req" ] && [ "$nginx_req" = "$logged" ] \
    && [ $((ours_conn + found + asked)) = "$nginx_conn" ] || { verdict=MISMATCH; fail=1; }
  printf '%-12s %9s %9s %9s %12s %12s %7s %s\n' "$strategy" "$ours_req" "$logged" "$nginx_req" "$ours_conn" \
    "$nginx_conn" "$errors" "$verdict"
done
log "protocols in nginx's access log: $(awk '{print $2}' "$WORKDIR/logs/access.log" | sort | uniq -c | tr -s ' \n' ' ')"
exit $fail
