"""MkDocs hook (mkdocs.yml `hooks:`): adds the generated reference pages to every build.

The pages are never committed: each `make docs` builds them from the code
(tools/docs/reference.py), so the site cannot describe settings, commands, paths or events
that are not there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mkdocs.structure.files import File, Files  # noqa: E402

from tools.docs import pages  # noqa: E402


def on_files(files: Files, config: Any) -> Files:
    for uri, content in pages.generated_pages(ROOT).items():
        files.append(File.generated(config, uri, content=content))
    return files
