"""Benchmarks of the design, each a package: the system it measures, the load, the
tables (:mod:`oms.bench.saga`, :mod:`oms.bench.bff`), and what they share
(processes, ``/proc`` readings, the JSON report).  ``oms bench …`` (:mod:`oms.cli.bench`)
holds their options."""
