#!/bin/sh
# The agentbus image's entrypoint: the state on its volume, /metrics and
# /healthz on every interface of the container (the health check and a
# Prometheus scrape reach it there), and the broker token from a secret file
# when one is mounted. Arguments are passed on: the broker's host and port.
set -eu
bin=${AGENTBUS_BIN:-/usr/bin/agentbus}
state=${AGENTBUS_STATE_DIR:-/var/lib/agentbus}
http=${AGENTBUS_HTTP:-0.0.0.0:9464}
token=${AGENTBUS_TOKEN_FILE:-/run/secrets/agentbus-token}
if [ -r "$token" ]; then
	set -- --password-file "$token" "$@"
fi
exec "$bin" --state-dir "$state" --http "$http" "$@"
