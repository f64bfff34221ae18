"""Development kits shared by the tests and the benchmarks (not part of the library).

``shopsearch`` never imports this package and the wheel does not ship it (setuptools finds
packages under ``src/`` only). Tests and benchmarks import it from the repository root:
``python -m pytest`` puts the root on the import path, and ``benchmarks/run_all.py`` sets
``PYTHONPATH`` to it (by hand: ``PYTHONPATH=. python benchmarks/soak.py``).

- :mod:`devkit.servers`: PostgreSQL, Milvus and Ray servers on loopback, ``free_port``;
- :mod:`devkit.catalogs`: the tiny Pillow-drawn catalogue (``tiny_rows``, ``write_catalog``);
- :mod:`devkit.service`: the service's test settings (``make_settings``, ``API_KEY``) and
  ``LiveServer`` (uvicorn on 127.0.0.1 in a thread);
- :mod:`devkit.crashkit`, :mod:`devkit.racekit`, :mod:`devkit.soakkit`, :mod:`devkit.fuzzkit`:
  kill -9, compaction-race, soak and schemathesis drivers;
- :mod:`devkit.scripts`: ``load_script`` (a benchmark script loaded as a module, for its tests).
"""
