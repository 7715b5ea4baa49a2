#!/bin/sh
# Render coach.conf.template the way the official nginx image does (envsubst), for exactly
# its four variables, after checking their values:
#
#   COACH_UPSTREAM=127.0.0.1:8000 LEGACY_UPSTREAM=127.0.0.1:8080 COACH_PERCENT=10 \
#   LISTEN_PORT=8088 deploy/nginx/render.sh deploy/nginx/coach.conf.template [OUTPUT]
#
# With OUTPUT the file is replaced in one step (written beside it, then renamed); without it
# the result goes to stdout. With no argument at all it only checks the variables: that is
# how docker-compose.yml runs it, from /docker-entrypoint.d/, before the image's own envsubst,
# so that a bad value stops nginx instead of routing silently wrong.
set -eu

me=$(basename "$0")
fail() {
    echo "$me: $*" >&2
    exit 1
}

is_port() {
    case $1 in
        '' | *[!0-9]* | 0*) return 1 ;;
    esac
    [ "$1" -le 65535 ]
}

check_host_port() { # NAME VALUE: host:port, with nothing nginx would read as syntax
    host=${2%:*}
    port=${2##*:}
    case $host in
        '' | "$2" | *[!A-Za-z0-9._:\[\]-]*) fail "$1 must be host:port, not '$2'" ;;
    esac
    is_port "$port" || fail "$1 must be host:port with a port from 1 to 65535, not '$2'"
}

check_host_port COACH_UPSTREAM "${COACH_UPSTREAM:-}"
check_host_port LEGACY_UPSTREAM "${LEGACY_UPSTREAM:-}"
case ${COACH_PERCENT:-} in
    0 | [1-9] | [1-9][0-9] | 100) ;;
    *) fail "COACH_PERCENT must be a whole number from 0 to 100, not '${COACH_PERCENT:-}'" ;;
esac
is_port "${LISTEN_PORT:-}" || fail "LISTEN_PORT must be a port from 1 to 65535, not '${LISTEN_PORT:-}'"
export COACH_UPSTREAM LEGACY_UPSTREAM COACH_PERCENT LISTEN_PORT

[ $# -ge 1 ] || exit 0
[ -r "$1" ] || fail "no template at $1"
command -v envsubst >/dev/null || fail "envsubst is missing (Debian: apt-get install gettext-base)"

# The explicit list keeps nginx's own $variables as they are.
# shellcheck disable=SC2016 # envsubst wants the names, unexpanded
vars='${COACH_UPSTREAM} ${LEGACY_UPSTREAM} ${COACH_PERCENT} ${LISTEN_PORT}'
if [ $# -ge 2 ]; then
    tmp="$2.rendering.$$"
    trap 'rm -f "$tmp"' EXIT
    envsubst "$vars" <"$1" >"$tmp"
    mv -f "$tmp" "$2"
else
    envsubst "$vars" <"$1"
fi
