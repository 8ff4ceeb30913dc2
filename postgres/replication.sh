#!/bin/sh
# Run by the postgres image once, when it first initialises the data directory
# (mounted under /docker-entrypoint-initdb.d; the image sources it).  In
# compose.yaml's cluster profile ($REPLICATION non-empty) postgres-standby takes
# a base backup of this server and streams its WAL as the oms user, which the
# image's own pg_hba.conf does not let in: its "all" does not cover replication.
if [ -n "${REPLICATION:-}" ]; then
    echo "host replication oms all scram-sha-256" >>"$PGDATA/pg_hba.conf"
fi
