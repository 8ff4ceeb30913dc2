"""QA scenarios: YAML files of set-up, steps and expectations, run against a system.

* :mod:`~oms.scenario.model` the file's schema, :mod:`~oms.scenario.spec` its
  shared parts (names, set-up, saga states), :mod:`~oms.scenario.loader` reading
  and checking files;
* :mod:`~oms.scenario.steps` and :mod:`~oms.scenario.expectations`: every kind,
  a module each, one registry each (:mod:`~oms.scenario.kinds` says what a kind is);
* :mod:`~oms.scenario.run` one scenario, :mod:`~oms.scenario.schedule` many;
  :mod:`~oms.scenario.client` and :mod:`~oms.scenario.control` the system they
  act on; :mod:`~oms.scenario.results`, :mod:`~oms.scenario.report` what comes out;
* :mod:`~oms.scenario.export` a stored saga written as a scenario.
"""
