"""Training, export and evaluation of streamer's own style-transfer models.

Run from the repository root, e.g. ``python -m models.build_release``. The teacher models and
data are read at run time from the shared directory (see :mod:`models.paths`); nothing is
downloaded and nothing from there is copied into the repository.
"""
