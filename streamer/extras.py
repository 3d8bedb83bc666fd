"""The optional extras (``webrtc``, ``vcam``, ...) and how to install one that is missing."""

from __future__ import annotations

import re
import shlex
from importlib import metadata

__all__ = ["DISTRIBUTION", "install_hint"]

#: the distribution name on package indexes (the import package and the command are ``streamer``;
#: a different, unrelated project owns the name ``streamer`` on PyPI)
DISTRIBUTION = "streamer-nst"

_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def install_hint(extra: str) -> str:
    """The pip command that adds ``extra``'s packages to this environment.

    The packages are named directly (read from the installed metadata), so the command works the
    same for a checkout, an editable install or a wheel, and never resolves to another project.
    """
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        requirements = []
    packages = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        found = _EXTRA_MARKER.search(marker)
        if found and found.group(1) == extra:
            packages.append(shlex.quote(spec.strip().replace(" ", "")))
    if packages:
        return "pip install " + " ".join(packages)
    return f"pip install '{DISTRIBUTION}[{extra}]' (in a checkout: pip install '.[{extra}]')"
