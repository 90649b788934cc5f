"""The composition layer: what wires the rooms into a run.

The command line (``cli``, ``train_cli``), the Prefect flows and the schedule, doctor, the
run's display, log, lock and summary, notifications, build state and the temporary Prefect
server. It imports the kernel (``synthlake.*``) and the rooms (``synthlake.ingest``,
``synthlake.export``, ``synthlake.train``, the dbt models); nothing outside this package
imports it (``tests/unit/test_import_graph.py`` checks).
"""
