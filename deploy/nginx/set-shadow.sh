#!/bin/sh
# Turn shadow traffic on, change its share, or turn it off, on a running nginx:
#
#   deploy/nginx/set-shadow.sh SHADOW_PERCENT [CONF]      # CONF: /etc/nginx/conf.d/coach.conf
#
# SHADOW_PERCENT (0 to 100) of the GET /fitness/wod that the monolith answers for its users
# are also sent to coach (marked X-Coach-Shadow; the client never waits for coach's answer
# beyond the mirror's 300 ms cap). 0 turns the mirror off. The share of users sent to coach
# stays what CONF has: this is set-percent.sh with that percentage and COACH_SHADOW_PERCENT,
# so it checks, reloads and rolls back the same way (same COACH_NGINX_BIN, COACH_NGINX_ARGS).
set -eu

me=$(basename "$0")
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || {
    echo "usage: $me SHADOW_PERCENT [CONF]   (CONF: /etc/nginx/conf.d/coach.conf)" >&2
    exit 2
}
conf=${2:-/etc/nginx/conf.d/coach.conf}
case $1 in
    0 | [1-9] | [1-9][0-9] | 100) ;;
    *)
        echo "$me: SHADOW_PERCENT must be a whole number from 0 to 100, not '$1'" >&2
        exit 1
        ;;
esac
if [ ! -e "$conf" ]; then
    echo "$me: no rendered configuration at $conf: give the path of nginx's coach.conf as the second argument ($me $1 /path/to/coach.conf)" >&2
    exit 1
fi
[ -r "$conf" ] || {
    echo "$me: cannot read $conf" >&2
    exit 1
}
percent=$("$here/set-percent.sh" --show "$conf") || {
    echo "$me: no coach percentage found in $conf: run set-percent.sh first" >&2
    exit 1
}
COACH_SHADOW_PERCENT=$1 exec "$here/set-percent.sh" "$percent" "$conf"
