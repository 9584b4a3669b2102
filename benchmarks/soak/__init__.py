"""``make soak``: kehu under load and faults on a PostgreSQL deployment, traffic to 127.0.0.1 only.

Run it with ``.venv/bin/python benchmarks/soak [--seconds 300] [--clients 50]`` (``make soak``). Phases:

1. **deploy** (:mod:`soak.deploy`): a fresh database ``kehu_soak_<random>`` on 127.0.0.1:5432, a data dir in a
   temporary folder, the secret and admin password from the environment (``KEHU_SECRET_KEY``,
   ``KEHU_ADMIN_PASSWORD``; random ones otherwise), the synthetic demo merchant (20,000 customers, about
   75,000 order lines) imported and classified with the CLI, ``kehu serve --workers 2`` on a free port, an API key.
2. **load** (:mod:`soak.load`): ``--clients`` concurrent clients (asyncio + httpx) for ``--seconds`` mixing the
   customer list (API and page, various sorts and filters), profiles (API and page), search by phone, segment
   previews and imports of small generated order files (a fifth of them re-imports) through the API. Any 5xx, any
   other unexpected status, any connection error fails the run. Count, p50, p99 and max per kind.
3. **faults** (:mod:`soak.faults`): PostgreSQL restarted under load (503 + ``Retry-After`` or success, never
   another 5xx; the same server processes recover); ``kehu classify`` killed mid-write (no half-written snapshot
   is ever ready; a rerun succeeds); the server killed during an import (the run is reported failed; a rerun
   leaves every order of the file exactly once).
4. **report** (:mod:`soak.report`): a table, ``soak-results.json`` in the working directory, exit 1 on any failure.

The database is dropped and the temporary folder removed at the end, whatever happened, and PostgreSQL is started
again if a fault left it stopped (other databases on it belong to others).
"""
