from __future__ import annotations

import sys

if "--floor" in sys.argv[1:]:
    # The whole server against its floor (bench/floor_cli.py), instead of the rest of the benchmark.
    from bench.floor_cli import main
else:
    from bench.cli import main

sys.exit(main())
