# Sourced by the scripts that measure against nginx. `write_nginx_conf` writes the one configuration
# they share to $WORKDIR/nginx.conf; `start_nginx` runs it pinned to $SERVER_CPU, waits until
# 127.0.0.1:$PORT answers (5 s at most), and stops it when the script exits. Needs a `log` function.

# write_nginx_conf WORKER_CONNECTIONS KEEPALIVE_REQUESTS [EXTRA_LOCATION]
# One worker, no access log (see ACCESS_LOG), `return 200 "hello world\n"` at /. EXTRA_LOCATION is one more location
# block (nginx-counters.sh adds stub_status). The fd limit is raised to the worker's connections.
# With TLS_PORT set, the same location is also served over https on 127.0.0.1:$TLS_PORT, with a self-signed
# certificate for 127.0.0.1 made here ($WORKDIR/cert.pem: a client's --cacert), TLS 1.2 and 1.3, a shared
# session cache and session tickets (so clients can resume, as with most HTTPS servers). With TLS12_PORT set
# too, the same again on 127.0.0.1:$TLS12_PORT with TLS 1.2 alone (a client cannot choose 1.3 there: wrk has
# no flag for the version).
# With H2_PORT set, the same location is served on 127.0.0.1:$H2_PORT over h2c (HTTP/2 with prior
# knowledge; nginx 1.22 takes `listen ... http2` without TLS as that).
# With ACCESS_LOG set, every server logs each request there: protocol, method, URI with its query, status and
# request length (targets-nginx.sh counts the lines per method and URI).
write_nginx_conf() {
  local connections=$1 keepalive_requests=$2 extra=${3:-} tls="" h2="" access="access_log off;"
  if [ -n "${ACCESS_LOG:-}" ]; then
    access="log_format counted '\$server_protocol \$request_method \$request_uri \$status \$request_length';
    access_log $ACCESS_LOG counted;"
  fi
  if [ -n "${H2_PORT:-}" ]; then
    h2="server { listen 127.0.0.1:$H2_PORT http2 backlog=65535; location / { return 200 \"hello world\\n\"; } }"
  fi
  mkdir -p "$WORKDIR/logs"
  if [ -n "${TLS_PORT:-}" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
      -keyout "$WORKDIR/key.pem" -out "$WORKDIR/cert.pem" 2>/dev/null || { log "openssl could not make a certificate"; exit 2; }
    tls="server {
        listen 127.0.0.1:$TLS_PORT ssl backlog=65535;
        ssl_certificate $WORKDIR/cert.pem;
        ssl_certificate_key $WORKDIR/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
        location / { return 200 \"hello world\\n\"; }
    }"
    if [ -n "${TLS12_PORT:-}" ]; then
      tls="$tls
    server {
        listen 127.0.0.1:$TLS12_PORT ssl backlog=65535;
        ssl_certificate $WORKDIR/cert.pem;
        ssl_certificate_key $WORKDIR/key.pem;
        ssl_protocols TLSv1.2;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
        location / { return 200 \"hello world\\n\"; }
    }"
    fi
  fi
  cat > "$WORKDIR/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $connections;
daemon off;
pid $WORKDIR/logs/nginx.pid;
error_log $WORKDIR/logs/error.log warn;
events { worker_connections $connections; }
http {
    $access
    keepalive_requests $keepalive_requests;
    keepalive_timeout 300;
    client_body_temp_path $WORKDIR/logs; proxy_temp_path $WORKDIR/logs; fastcgi_temp_path $WORKDIR/logs;
    uwsgi_temp_path $WORKDIR/logs; scgi_temp_path $WORKDIR/logs;
    server {
        listen 127.0.0.1:$PORT backlog=65535;
        $extra
        location / { return 200 "hello world\n"; }
    }
    $tls
    $h2
}
EOF
}

stop_nginx() {
  [ -n "${NGINX_PID:-}" ] || return 0
  kill -QUIT "$NGINX_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$NGINX_PID" 2>/dev/null && kill -KILL "$NGINX_PID" 2>/dev/null
  wait "$NGINX_PID" 2>/dev/null
  NGINX_PID=""
}

start_nginx() {
  # A server already on the port would answer in nginx's place, and the figures would be its.
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    log "127.0.0.1:$PORT is already in use by another process: set PORT to a free port"
    exit 2
  fi
  trap stop_nginx EXIT
  trap 'exit 130' INT TERM
  taskset -c "$SERVER_CPU" nginx -c "$WORKDIR/nginx.conf" -p "$WORKDIR" > "$WORKDIR/logs/nginx.out" 2>&1 &
  NGINX_PID=$!
  local i
  for i in $(seq 1 50); do # bounded: 5 s
    kill -0 "$NGINX_PID" 2>/dev/null || break
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  log "nginx did not start: $(cat "$WORKDIR/logs/error.log")"
  exit 1
}
