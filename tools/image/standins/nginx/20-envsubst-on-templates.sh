#!/bin/sh
# The nginx stand-in's template step (see Containerfile): every *.template under
# /etc/nginx/templates/ becomes the same path under /etc/nginx/conf.d/ without the suffix,
# with envsubst replacing only the environment variables whose names NGINX_ENVSUBST_FILTER
# (an awk regex; empty: all) matches.
set -eu
templates=/etc/nginx/templates
output=/etc/nginx/conf.d
suffix=.template
[ -d "$templates" ] || exit 0
filter=${NGINX_ENVSUBST_FILTER:-}
# shellcheck disable=SC2016 # names for envsubst, unexpanded
names=$(awk 'END { for (name in ENVIRON) if (name ~ ENVIRON["NGINX_ENVSUBST_FILTER"]) print name }' </dev/null)
vars=$(for name in $names; do printf '${%s} ' "$name"; done)
find "$templates" -follow -type f -name "*$suffix" | while read -r template; do
    relative=${template#"$templates"/}
    target="$output/${relative%"$suffix"}"
    mkdir -p "$(dirname "$target")"
    echo "$0: rendering $template to $target (filter: ${filter:-none})"
    envsubst "$vars" <"$template" >"$target"
done
