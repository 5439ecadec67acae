# This file contains what the tests of `tslab stats --url` and `tslab watch`
# share (sourced, not run): `tslab serve` started in the background with
# TSLAB_METRICS_PORT set to a free port, waited for until its endpoint answers,
# and stopped when the test exits.
#   start_serve <path to tslab> <directory for its output>
# sets $port, $url and $serve_pid.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_serve() {
  if [ -n "${serve_pid:-}" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
  fi
}

start_serve() {
  local tslab=$1 dir=$2
  port=$(free_port)
  url="http://127.0.0.1:$port/metrics"
  TSLAB_METRICS_PORT=$port "$tslab" serve --seconds 240 >"$dir/serve.out" 2>"$dir/serve.err" &
  serve_pid=$!
  for _ in $(seq 150); do
    if "$tslab" stats --url "$url" --prometheus >/dev/null 2>&1; then
      # A few batches in, so that epochs have closed.
      sleep 1
      return 0
    fi
    if ! kill -0 "$serve_pid" 2>/dev/null; then
      echo "FAIL: tslab serve exited: $(cat "$dir/serve.err")"
      return 1
    fi
    sleep 0.1
  done
  echo "FAIL: $url did not answer within 15 s"
  return 1
}
