#!/bin/sh
# The nginx stand-in's start (see Containerfile): before nginx, each executable
# /docker-entrypoint.d/*.sh in name order; one that fails stops the start.
set -eu
case ${1:-} in
    nginx | nginx-debug)
        for script in $(find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -name '*.sh' | sort); do
            if [ -x "$script" ]; then
                echo "$0: running $script"
                "$script"
            else
                echo "$0: ignoring $script, not executable"
            fi
        done
        ;;
esac
exec "$@"
