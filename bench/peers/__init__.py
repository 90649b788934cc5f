"""Side-by-side benchmarks of synthlake against peer tools (issue 17, "Peers, side by side").

Run from the repo root with the peers' own venv (see ``bench/peers/README.md``)::

    bench/peers/.venv/bin/python -m bench.peers.dedup
    bench/peers/.venv/bin/python -m bench.peers.llm
"""
