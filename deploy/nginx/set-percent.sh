#!/bin/sh
# Move /fitness/wod traffic on a running nginx (not the compose stack: see docs/RUNBOOK.md):
#
#   deploy/nginx/set-percent.sh PERCENT [CONF]        # CONF: /etc/nginx/conf.d/coach.conf
#   deploy/nginx/set-percent.sh --show [CONF]         # prints CONF's percentage, e.g. 25
#
# Renders coach.conf.template for PERCENT into CONF, checks the whole configuration with
# `nginx -t`, then reloads nginx (graceful: requests in flight finish on the old workers).
# COACH_UPSTREAMS, LEGACY_UPSTREAM and LISTEN_PORT are taken from the environment when set,
# else from the CONF in place (every replica of its coach upstream), so that a rollback is
# this one command with 0. If anything fails, CONF is put back as it was, nginx keeps
# running what it had, and the reason (the missing file, binary or value, by name) goes to
# stderr with exit status 1 (2 for a wrong command line).
# To change something else (the replicas, say) and keep the share of users, give the
# current percentage: PERCENT=$(deploy/nginx/set-percent.sh --show CONF).
# The shadow share (COACH_SHADOW_PERCENT: how much of the monolith's GETs is mirrored to
# coach) is kept as the CONF in place has it, unless COACH_SHADOW_PERCENT is set:
#   COACH_SHADOW_PERCENT=10 deploy/nginx/set-percent.sh 0 [CONF]   (or set-shadow.sh 10 [CONF])
# COACH_NGINX_BIN (default: nginx) and COACH_NGINX_ARGS (say, "-p DIR -c FILE") say which
# nginx to talk to. (Not NGINX: nginx itself reads that variable as a list of inherited
# sockets, and logs "[emerg] invalid socket number" at every -t and reload. A NGINX in the
# environment is removed before nginx runs, with a warning.)
set -eu

me=$(basename "$0")
here=$(cd "$(dirname "$0")" && pwd)
fail() {
    echo "$me: $*" >&2
    exit 1
}
[ $# -ge 1 ] && [ $# -le 2 ] || {
    echo "usage: $me PERCENT [CONF]   or   $me --show [CONF]   (CONF: /etc/nginx/conf.d/coach.conf)" >&2
    exit 2
}
percent=$1
conf=${2:-/etc/nginx/conf.d/coach.conf}
template=${COACH_TEMPLATE:-$here/coach.conf.template}
nginx=${COACH_NGINX_BIN:-nginx}
nginx_args=${COACH_NGINX_ARGS:-}

percent_in() { # the coach percentage a rendered CONF holds ("" if none)
    sed -n 's/.*"~^bx{\([0-9]*\)}".*/\1/p' "$1" | head -n 1
}
readable_conf() { # CONF exists and can be read, or a message naming it
    [ -e "$conf" ] || fail "no rendered configuration at $conf: give the path of nginx's coach.conf as the second argument ($me $1 /path/to/coach.conf)"
    [ -r "$conf" ] || fail "cannot read $conf"
}

if [ "$percent" = --show ]; then
    readable_conf --show
    shown=$(percent_in "$conf")
    [ -n "$shown" ] || fail "$conf holds no coach percentage: is it rendered from coach.conf.template?"
    echo "$shown"
    exit 0
fi
case $percent in
    0 | [1-9] | [1-9][0-9] | 100) ;;
    *) fail "PERCENT must be a whole number from 0 to 100, not '$percent'" ;;
esac
if [ -n "${NGINX+set}" ]; then
    echo "$me: ignoring NGINX='$NGINX' (nginx reads it as inherited sockets): set COACH_NGINX_BIN" >&2
    unset NGINX
fi
command -v "$nginx" >/dev/null 2>&1 || fail "no nginx binary '$nginx': set COACH_NGINX_BIN to its path"
[ -r "$template" ] || fail "no template at $template (COACH_TEMPLATE)"
if [ -e "$conf" ]; then
    readable_conf "$percent"
else
    # No file to read the values from: only a complete environment writes a new one.
    [ -n "${COACH_UPSTREAMS:-${COACH_UPSTREAM:-}}" ] && [ -n "${LEGACY_UPSTREAM:-}" ] &&
        [ -n "${LISTEN_PORT:-}" ] ||
        fail "no rendered configuration at $conf: give the path of nginx's coach.conf as the second argument ($me $percent /path/to/coach.conf), or set COACH_UPSTREAMS, LEGACY_UPSTREAM and LISTEN_PORT to write a new one"
    [ -d "$(dirname "$conf")" ] || fail "no directory $(dirname "$conf") for $conf"
fi

from_conf() { # the value a rendered CONF holds: upstream coach|legacy (comma-separated), listen, shadow or log
    [ -r "$conf" ] || return 0
    case $1 in
        listen) sed -n 's/^ *listen \([0-9][0-9]*\);.*/\1/p' "$conf" | head -n 1 ;;
        shadow) sed -n 's/.*"~^legacy GET bx{\([0-9]*\)}".*/\1/p' "$conf" | head -n 1 ;;
        log) sed -n 's/^ *access_log \([^ ;]*\) coach_routing;.*/\1/p' "$conf" | head -n 1 ;;
        *) sed -n "/^upstream $1 {/,/}/s/^ *server \\([^ ;]*\\).*/\\1/p" "$conf" | paste -sd, - ;;
    esac
}
was=
if [ -e "$conf" ]; then was=$(percent_in "$conf"); fi
COACH_UPSTREAMS=${COACH_UPSTREAMS:-${COACH_UPSTREAM:-$(from_conf coach)}}
LEGACY_UPSTREAM=${LEGACY_UPSTREAM:-$(from_conf legacy)}
LISTEN_PORT=${LISTEN_PORT:-$(from_conf listen)}
shadow_was=$(from_conf shadow)
COACH_SHADOW_PERCENT=${COACH_SHADOW_PERCENT:-${shadow_was:-0}}
COACH_ACCESS_LOG=${COACH_ACCESS_LOG:-$(from_conf log)}
COACH_PERCENT=$percent
export COACH_UPSTREAMS LEGACY_UPSTREAM LISTEN_PORT COACH_PERCENT COACH_SHADOW_PERCENT COACH_ACCESS_LOG

"$here/render.sh" # checks the values; stops here on a bad one

backup=
if [ -e "$conf" ]; then
    backup="$conf.before-set-percent"
    cp -p "$conf" "$backup"
fi
restore() {
    if [ -n "$backup" ]; then mv -f "$backup" "$conf"; else rm -f "$conf"; fi
    echo "$me: $1; $conf is as it was and nginx was not reloaded" >&2
    exit 1
}

"$here/render.sh" "$template" "$conf" || restore "rendering failed"
# shellcheck disable=SC2086 # COACH_NGINX_ARGS is a list of words
$nginx $nginx_args -t -q || restore "nginx -t refused the new configuration"
# shellcheck disable=SC2086
$nginx $nginx_args -s reload || restore "nginx -s reload failed"
[ -z "$backup" ] || rm -f "$backup"
echo "$me: /fitness/wod now goes to coach for $percent % of users (was ${was:-unknown} %)"
echo "$me: shadow traffic: $COACH_SHADOW_PERCENT % of the monolith's GETs mirrored to coach (was ${shadow_was:-0} %)"
