"""Release tests: hyper and reference clients against real servers on 127.0.0.1."""
