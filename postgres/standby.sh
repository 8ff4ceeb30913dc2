#!/bin/sh
# postgres-standby of compose.yaml's cluster profile: a copy of $PRIMARY_HOST that
# streams its WAL.  On the first start the data directory is made by pg_basebackup
# -R (standby.signal, and primary_conninfo naming this standby $STANDBY_NAME, the
# name the primary's synchronous_standby_names waits for).  The copy waits for no
# standby of its own: promoted, it takes writes alone (the primary's setting, when
# the backup brings it along, is overridden).  On every start the image's own
# entrypoint then runs the server, which keeps streaming.
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    gosu postgres pg_basebackup \
        --dbname="host=$PRIMARY_HOST user=oms application_name=$STANDBY_NAME" \
        --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream --checkpoint=fast
    echo "synchronous_standby_names = ''" >>"$PGDATA/postgresql.auto.conf"
fi

exec docker-entrypoint.sh "$@"
