"""Side-by-side benchmarks of hyper against httpx, niquests, pycurl and the C tools curl and h2load.

Run with ``make bench`` (or ``make bench-quick``), which prepares one
virtualenv per peer client and then runs ``python -m bench``. The harness
starts real servers (h2o, nginx) on 127.0.0.1, runs every workload with
every client as a subprocess pinned to its own CPU, and prints one table of
medians with ratios to the best Python peer and to the C reference. Never
part of the test suite: nothing here asserts a speed.
"""
