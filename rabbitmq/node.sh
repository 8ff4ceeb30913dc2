#!/bin/sh
# How compose.yaml starts its RabbitMQ containers: the Erlang cookie in
# $ERLANG_COOKIE (compose passes OMS_BROKER_ERLANG_COOKIE) is written to
# $HOME/.erlang.cookie, owner-only as Erlang requires, where the server and the
# CLI tools of the official image read it; then the image's own entrypoint runs
# the command (for rabbitmq-server it hands the file to the rabbitmq user).  With no cookie given nothing is written: a lone node makes its own.
#
# A container of the cluster profile starts with --cluster-member: it refuses to
# run without the cookie (its node could not join the others) or without
# OMS_CLUSTER (in $CLUSTER), since then the components were given one broker node
# and one database host, not the cluster's.
set -eu

if [ "${1:-}" = --cluster-member ]; then
    shift
    if [ -z "${ERLANG_COOKIE:-}" ]; then
        echo "the cluster profile needs OMS_BROKER_ERLANG_COOKIE exported (see compose.yaml)" >&2
        exit 64
    fi
    if [ -z "${CLUSTER:-}" ]; then
        echo "the cluster profile needs OMS_CLUSTER=1 exported (see compose.yaml)" >&2
        exit 64
    fi
fi

if [ -n "${ERLANG_COOKIE:-}" ]; then
    cookie="$HOME/.erlang.cookie"
    (umask 077 && printf '%s' "$ERLANG_COOKIE" >"$cookie")
    chmod 600 "$cookie" # when it was there already
fi

exec docker-entrypoint.sh "$@"
