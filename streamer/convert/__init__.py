"""Batch conversion of video and image files."""

from .batch import FileOutcome, Progress, run_jobs
from .image import convert_image
from .plan import Job, plan_jobs
from .video import VideoResult, convert_video

__all__ = ["FileOutcome", "Job", "Progress", "VideoResult", "convert_image", "convert_video", "plan_jobs",
           "run_jobs"]
