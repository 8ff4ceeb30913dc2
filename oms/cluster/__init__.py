"""``oms cluster up`` / ``down``: OMS past one machine, laid out on this one.

A three-node RabbitMQ cluster (:mod:`oms.cluster.rabbit`), a PostgreSQL primary
with a synchronous streaming standby (:mod:`oms.cluster.postgres`), and two
processes of every component behind HAProxy (:mod:`oms.cluster.fleet`), each on
ports and in directories of its own (:mod:`oms.cluster.layout`), beside whatever
RabbitMQ and PostgreSQL the machine already runs.
"""
