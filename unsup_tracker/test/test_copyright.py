# Copyright 2015 Open Source Robotics Foundation, Inc.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Every Python file of the package starts with the Apache-2.0 notice package.xml declares.

``test_copyright`` is ament_copyright (ROS installs); ``test_license_headers`` is a plain check
of the same notice that runs everywhere. A new file fails both until it carries the header:
``python unsup_tracker/test/test_copyright.py --fix`` prepends it to every file without one.
"""
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"build", "install", "log", "__pycache__", ".venv"}
HEADER = """\
# Copyright 2026 unsup_tracker developers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""
_COPYRIGHT_LINE = re.compile(r"# Copyright \d{4}(-\d{4})? \S.*")
# The notice's body as ament_copyright compares it: words only, comment marks and layout ignored.
_NOTICE_WORDS = " ".join(
    line.lstrip("#").strip() for line in HEADER.splitlines()[1:] if line.lstrip("#").strip()
)


def source_files():
    """Every .py file of the package (the files ament_copyright checks), sorted."""
    return sorted(
        path for path in PACKAGE_DIR.rglob("*.py")
        if not SKIP_DIRS & set(path.relative_to(PACKAGE_DIR).parts)
    )


def has_header(text: str) -> bool:
    """Tell whether the file opens (after a shebang) with a copyright line and the notice."""
    lines = text.splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    block = []
    for line in lines:
        if not line.startswith("#"):
            break
        block.append(line)
    if not block or not _COPYRIGHT_LINE.fullmatch(block[0]):
        return False
    words = " ".join(line.lstrip("#").strip() for line in block[1:] if line.lstrip("#").strip())
    return words.startswith(_NOTICE_WORDS)


def add_header(path: Path) -> None:
    """Prepend :data:`HEADER` (after a shebang line, if any)."""
    text = path.read_text()
    if text.startswith("#!"):
        shebang, _, rest = text.partition("\n")
        path.write_text(f"{shebang}\n{HEADER}{rest}")
    else:
        path.write_text(HEADER + text)


def test_package_declares_apache_2():
    root = ElementTree.parse(PACKAGE_DIR / "package.xml").getroot()
    assert [e.text for e in root.iter("license")] == ["Apache-2.0"]
    assert 'license="Apache-2.0"' in (PACKAGE_DIR / "setup.py").read_text()


@pytest.mark.copyright
@pytest.mark.linter
def test_license_headers():
    files = source_files()
    assert len(files) > 50, files  # the search found the package
    missing = [str(p.relative_to(PACKAGE_DIR)) for p in files if not has_header(p.read_text())]
    assert not missing, (
        f"{len(missing)} file(s) without the Apache-2.0 header (add it with "
        f"`python unsup_tracker/test/test_copyright.py --fix`): {missing}"
    )


def test_the_header_check_refuses_what_it_should():
    body = '"""Doc."""\n'
    assert has_header(HEADER + body) and has_header("#!/usr/bin/env python3\n" + HEADER + body)
    assert not has_header(body)
    assert not has_header("# Copyright 2026 someone\n" + body)            # no licence text
    assert not has_header(HEADER.replace("Version 2.0", "Version 3.0") + body)
    assert not has_header(HEADER.replace("# Copyright 2026 ", "# (c) ") + body)
    assert not has_header(body + HEADER)                                  # not at the top


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    main = pytest.importorskip(
        "ament_copyright.main", reason="ament_copyright is not installed (ROS installs only; "
        "test_license_headers checks the same notice)").main
    rc = main(argv=[str(PACKAGE_DIR), str(PACKAGE_DIR / "test")])
    assert rc == 0, 'Found errors'


if __name__ == "__main__":
    if sys.argv[1:] != ["--fix"]:
        sys.exit("usage: test_copyright.py --fix   (prepends the header where it is missing)")
    for path in source_files():
        if not has_header(path.read_text()):
            add_header(path)
            print(f"added the header to {path.relative_to(PACKAGE_DIR)}")
