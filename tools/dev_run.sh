#!/usr/bin/env bash
# `make run`: a local broker (unless COACH_KAFKA_BOOTSTRAP_SERVERS is set), the topics, demo
# data, then coach (consumer + api) in the foreground. Development settings live in .coach-dev/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p .coach-dev && chmod 700 .coach-dev  # the projection and the secret: yours only
export COACH_DB_PATH=${COACH_DB_PATH:-.coach-dev/coach.db}

if [ -z "${COACH_JWT_SECRET:-}" ] && [ -z "${COACH_JWT_PUBLIC_KEY_FILE:-}" ]; then
  # A random development secret, made once and kept in .coach-dev/ (never committed), 0600.
  COACH_JWT_SECRET=$(python3 tools/dev_secret.py .coach-dev/jwt-secret)
  export COACH_JWT_SECRET
fi

if [ -z "${COACH_KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  python3 tools/kafka/broker.py start
fi

$BIN/coach topics create
$BIN/coach demo-data --users 50 | $BIN/coach publish

echo
if [ -n "${COACH_JWT_SECRET:-}" ]; then
  TOKEN=$($BIN/coach token --sub 1 --ttl 86400)
  echo "Try it (the token is valid for 24 h):"
  echo "  curl -s -H 'Authorization: Bearer $TOKEN' http://$HOST:$PORT/fitness/wod"
else
  echo "COACH_JWT_PUBLIC_KEY_FILE is set: sign a token with its private key to call the api."
fi
echo "Stop with Ctrl-C. Projection: $COACH_DB_PATH"
echo
exec $BIN/coach run --host "$HOST" --port "$PORT"
