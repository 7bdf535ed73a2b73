# Sourced by the benchmark scripts: runs the nginx they configured in $WORKDIR/nginx.conf (which must say
# `daemon off;`) pinned to $SERVER_CPU, waits until 127.0.0.1:$PORT answers (5 s at most), and stops it
# when the script exits. Needs a `log` function.

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
