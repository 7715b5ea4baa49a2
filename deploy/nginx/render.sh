#!/bin/sh
# Render coach.conf.template the way the official nginx image does (envsubst), for exactly
# its seven variables, after checking the values they are made from:
#
#   COACH_UPSTREAMS=127.0.0.1:8000,127.0.0.1:8001 LEGACY_UPSTREAM=127.0.0.1:8080 \
#   COACH_PERCENT=10 LISTEN_PORT=8088 deploy/nginx/render.sh deploy/nginx/coach.conf.template [OUTPUT]
#
# COACH_SHADOW_PERCENT (0 to 100, default 0) is the share of the monolith's GET /fitness/wod
# mirrored to coach (shadow traffic); it also gives the template's COACH_SHADOW_MIRROR: the
# mirror location, or `off` at 0 (no mirror subrequest at all).
#
# COACH_ACCESS_LOG (default /dev/stdout) is where the routing access log goes: an absolute
# path. On a host, give it a file, for `coach rollout canary --access-log` to read.
#
# COACH_UPSTREAMS is the comma-separated list of coach replicas (host:port each); it becomes
# the template's COACH_SERVERS, one `server` line per replica. COACH_UPSTREAM (one replica)
# is read when COACH_UPSTREAMS is not set. COACH_FAIL_TIMEOUT (default 5s, whole seconds up
# to 99) is how long a replica that failed gets no request.
#
# With OUTPUT the file is replaced in one step (written beside it, then renamed); without it
# the result goes to stdout. With no argument at all it only checks the variables, unless
# NGINX_COACH_TEMPLATE names a template: then it renders that template to
# NGINX_COACH_OUTPUT (default /etc/nginx/conf.d/default.conf). That is how
# docker-compose.yml runs it, from /docker-entrypoint.d/, before nginx starts, so that a bad
# value stops nginx instead of routing silently wrong.
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

# The replicas: each host:port checked, then one server line each. max_fails=1 with
# fail_timeout: a replica that failed (refused, timed out, or answered 503 because it is not
# ready: proxy_next_upstream in the template) gets no request for that long (passive health
# checks; nginx open source has no active ones).
upstreams=${COACH_UPSTREAMS:-${COACH_UPSTREAM:-}}
[ -n "$upstreams" ] || fail "COACH_UPSTREAMS must be a comma-separated list of host:port, not ''"
COACH_SERVERS=
n=0
old_ifs=$IFS
IFS=,
for upstream in $upstreams; do
    check_host_port COACH_UPSTREAMS "$upstream"
    line="server $upstream max_fails=1 fail_timeout=${COACH_FAIL_TIMEOUT:-5s};"
    if [ $n -eq 0 ]; then COACH_SERVERS=$line; else COACH_SERVERS="$COACH_SERVERS
    $line"; fi
    n=$((n + 1))
done
IFS=$old_ifs
[ $n -gt 0 ] || fail "COACH_UPSTREAMS must name at least one host:port"
case ${COACH_FAIL_TIMEOUT:-5s} in
    [1-9] | [1-9][0-9] | [1-9]s | [1-9][0-9]s) ;;
    *) fail "COACH_FAIL_TIMEOUT must be whole seconds from 1 to 99, not '$COACH_FAIL_TIMEOUT'" ;;
esac
check_host_port LEGACY_UPSTREAM "${LEGACY_UPSTREAM:-}"
case ${COACH_PERCENT:-} in
    0 | [1-9] | [1-9][0-9] | 100) ;;
    *) fail "COACH_PERCENT must be a whole number from 0 to 100, not '${COACH_PERCENT:-}'" ;;
esac
COACH_SHADOW_PERCENT=${COACH_SHADOW_PERCENT:-0}
case $COACH_SHADOW_PERCENT in
    0 | [1-9] | [1-9][0-9] | 100) ;;
    *) fail "COACH_SHADOW_PERCENT must be a whole number from 0 to 100, not '$COACH_SHADOW_PERCENT'" ;;
esac
if [ "$COACH_SHADOW_PERCENT" -eq 0 ]; then COACH_SHADOW_MIRROR=off; else COACH_SHADOW_MIRROR=/_coach_shadow; fi
COACH_ACCESS_LOG=${COACH_ACCESS_LOG:-/dev/stdout}
case $COACH_ACCESS_LOG in
    /*[!A-Za-z0-9._/-]* | /*..* ) fail "COACH_ACCESS_LOG must be an absolute path of letters, digits and . _ / -, not '$COACH_ACCESS_LOG'" ;;
    /?*) ;;
    *) fail "COACH_ACCESS_LOG must be an absolute path of letters, digits and . _ / -, not '$COACH_ACCESS_LOG'" ;;
esac
is_port "${LISTEN_PORT:-}" || fail "LISTEN_PORT must be a port from 1 to 65535, not '${LISTEN_PORT:-}'"
export COACH_SERVERS LEGACY_UPSTREAM COACH_PERCENT LISTEN_PORT COACH_SHADOW_PERCENT COACH_SHADOW_MIRROR \
    COACH_ACCESS_LOG

if [ $# -eq 0 ]; then
    [ -n "${NGINX_COACH_TEMPLATE:-}" ] || exit 0
    set -- "$NGINX_COACH_TEMPLATE" "${NGINX_COACH_OUTPUT:-/etc/nginx/conf.d/default.conf}"
fi
[ -r "$1" ] || fail "no template at $1"
command -v envsubst >/dev/null || fail "envsubst is missing (Debian: apt-get install gettext-base)"

# The explicit list keeps nginx's own $variables as they are.
# shellcheck disable=SC2016 # envsubst wants the names, unexpanded
vars='${COACH_SERVERS} ${LEGACY_UPSTREAM} ${COACH_PERCENT} ${LISTEN_PORT} ${COACH_SHADOW_PERCENT} ${COACH_SHADOW_MIRROR} ${COACH_ACCESS_LOG}'
if [ $# -ge 2 ]; then
    [ -d "$(dirname "$2")" ] || fail "no directory $(dirname "$2") for $2"
    [ -w "$(dirname "$2")" ] || fail "cannot write in $(dirname "$2") (for $2)"
    tmp="$2.rendering.$$"
    trap 'rm -f "$tmp"' EXIT
    envsubst "$vars" <"$1" >"$tmp"
    mv -f "$tmp" "$2"
else
    envsubst "$vars" <"$1"
fi
