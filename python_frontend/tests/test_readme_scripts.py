"""Every script README.md tells a user to run is executable in git, so that
`scripts/demo.sh` works as typed in a fresh clone."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_scripts_are_executable_in_git():
    readme = (ROOT / "README.md").read_text()
    scripts = sorted(set(re.findall(r"(?<![\w/.])(scripts/[\w./-]+\.sh)", readme)))
    assert "scripts/demo.sh" in scripts and "scripts/test.sh" in scripts
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-s", *scripts],
                            check=True, capture_output=True, text=True).stdout
    modes = {line.split()[3]: line.split()[0] for line in listed.splitlines()}
    assert set(modes) == set(scripts), "README names scripts not in git"
    assert {s: m for s, m in modes.items() if m != "100755"} == {}
