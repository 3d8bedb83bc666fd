"""Models and the inference thread: loading, backends, pre/post-processing, scheduling."""

from .backends import BackendOptions, BackendReport, default_threads, open_transform
from .catalog import ModelSet, available_model_sets, bundled_dir, find_model_set, magenta_dir
from .modelfile import EMBEDDING_DIM, ModelFile, PredictorModel, TransformModel
from .stylizer import Stylizer
from .worker import InferenceWorker, Lane, LaneStats, WorkerStats

__all__ = [
    "EMBEDDING_DIM",
    "BackendOptions",
    "BackendReport",
    "InferenceWorker",
    "Lane",
    "LaneStats",
    "ModelFile",
    "ModelSet",
    "PredictorModel",
    "Stylizer",
    "TransformModel",
    "WorkerStats",
    "available_model_sets",
    "bundled_dir",
    "default_threads",
    "find_model_set",
    "magenta_dir",
    "open_transform",
]
