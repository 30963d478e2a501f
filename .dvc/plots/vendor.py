"""Rebuild offline.html: DVC's plots page with vega, vega-lite and vega-embed inlined, so it needs no CDN.

Run from anywhere with npm and the registry reachable (once; the page it writes works offline):

    python .dvc/plots/vendor.py

It fetches each package's published tarball with `npm pack`, takes the minified browser build that the
CDN serves for it (the package's `jsdelivr` entry), inlines the bytes unchanged, and prints their sha256
for tests/test_plots_offline.py. To upgrade, change PACKAGES, rerun, and update the hashes in the test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# The majors DVC's default page loads (vega 5, vega-lite 5, vega-embed 6), at their latest releases.
PACKAGES = {"vega": "5.33.1", "vega-lite": "5.23.0", "vega-embed": "6.29.0"}
TEMPLATE = Path(__file__).with_name("offline.html")

# dvc_render's default page with its `{scripts}` placeholder (the CDN tags) replaced by inline scripts.
# `<meta charset>` matters: the builds hold non-ASCII characters and a file:// page has no HTTP header.
PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- Built by .dvc/plots/vendor.py; licences in .dvc/plots/README.md. No remote scripts. -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def published_build(name: str, version: str, workdir: Path) -> bytes:
    """The bytes of `name@version`'s CDN entry file, from the tarball npm downloads."""
    subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    with tarfile.open(workdir / f"{name}-{version}.tgz") as tar:
        meta = json.load(tar.extractfile("package/package.json"))
        return tar.extractfile(f"package/{meta['jsdelivr']}").read()


def main() -> None:
    """Write offline.html atomically and print each inlined file's sha256."""
    blocks = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, version in PACKAGES.items():
            code = published_build(name, version, Path(tmp))
            if b"</script" in code.lower():
                sys.exit(f"{name}@{version} contains '</script' and cannot be inlined as is")
            print(f"{name}@{version} {hashlib.sha256(code).hexdigest()}")
            blocks.append(f'    <script data-package="{name}@{version}">{code.decode("utf-8")}</script>')
    page = PAGE.format(scripts="\n".join(blocks))
    partial = TEMPLATE.with_suffix(".tmp")
    partial.write_text(page, encoding="utf-8", newline="\n")
    os.replace(partial, TEMPLATE)


if __name__ == "__main__":
    main()
