"""Batch conversion spread over a Ray cluster (``streamer convert --ray``).

The data path is the single-process one, cut in time: the driver splits each video at clean
keyframes (:mod:`.chunks`), workers decode, stylize and encode the chunks with one engine per
process (:mod:`.worker`), and the driver joins them without re-encoding (:mod:`.join`).
:mod:`.job` runs it all; :mod:`.connect` is the only module that talks to Ray directly.
"""

from .connect import ADDRESS_ENV, parse_address
from .job import ClusterOptions, ClusterStats, run_cluster_jobs

__all__ = ["ADDRESS_ENV", "ClusterOptions", "ClusterStats", "parse_address", "run_cluster_jobs"]
