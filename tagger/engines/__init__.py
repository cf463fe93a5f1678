"""Engines: where the batches of a run are computed.

`local` runs in this process; `dask` sends one task per input shard to a Dask cluster
(a LocalCluster of `--jobs` processes, or a scheduler given with `--cluster`). With
`--out-dir`, both write one part file per shard and a `_manifest.json`, so that a run
can be resumed and a retried task is written exactly once (see docs/dask.md).
"""

from __future__ import annotations

ENGINES = ("local", "dask")
