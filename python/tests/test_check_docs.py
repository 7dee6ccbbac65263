"""tools/check_docs: runs the marked blocks' commands and holds the numbers they print to the
digits written beside them; fails on a changed number, a failing command or a missing line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bin_dir(tmp_path):
    cli = os.environ.get("GFNRL_CLI")
    if not cli:
        pytest.skip("set GFNRL_CLI to the gfnrl executable (check_docs runs it from its folder)")
    return str(Path(cli).parent)


def check(bin_dir, tmp_path, text, *flags):
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    env = dict(os.environ, GFNRL_BIN=bin_dir, GFNRL_PYTHON=sys.executable)
    return subprocess.run([sys.executable, str(ROOT / "tools" / "check_docs"), *flags, str(doc)],
                          capture_output=True, text=True, env=env)


BLOCK = """Text.
<!-- check quick{tol} -->
```console
$ printf 'tv   0.0142 log_z 4.18357569\\nrows 75\\n'
tv {tv}
...
rows 75
$ python3 - <<'EOF'
print("sum", 1 + 2)
EOF
sum 3
```
"""


def test_numbers_agree_to_the_digits_written(bin_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # what check_docs leaves in its temp dir
    (tmp_path / "tmp").mkdir()
    for tv in ("0.014", "0.0142", "1.4e-2", "0.01"):
        r = check(bin_dir, tmp_path, BLOCK.format(tol="", tv=tv), "--quick")
        assert r.returncode == 0 and "2 checked" in r.stdout, (tv, r.stdout, r.stderr)
    for tv in ("0.015", "0.0143", "0.02"):  # one digit off in the last place written
        r = check(bin_dir, tmp_path, BLOCK.format(tol="", tv=tv), "--quick")
        assert r.returncode == 1 and f"'tv {tv}' not in the output" in r.stdout, (tv, r.stdout)
    # tol= widens the written precision by a relative amount
    assert check(bin_dir, tmp_path, BLOCK.format(tol=" tol=0.1", tv="0.0155")).returncode == 0
    assert os.listdir(tmp_path / "tmp") == []  # no temporaries left behind


def test_a_failing_command_or_a_missing_line_fails_and_quick_skips_unmarked(bin_dir, tmp_path):
    r = check(bin_dir, tmp_path, "<!-- check -->\n```console\n$ exit 3\n```\n")
    assert r.returncode == 1 and "exit 3" in r.stdout and "1 checked, 1 failed" in r.stdout
    r = check(bin_dir, tmp_path, "<!-- check -->\n```console\n$ echo log_z 1.5\nlog_z 1.5\n```\n",
              "--quick")
    assert r.returncode == 0 and "0 checked" in r.stdout  # not marked quick
    # 'log_z' does not match inside 'closed_form_log_z'
    r = check(bin_dir, tmp_path,
              "<!-- check -->\n```console\n$ echo closed_form_log_z 1.5\nlog_z 1.5\n```\n")
    assert r.returncode == 1
    r = check(bin_dir, tmp_path, "<!-- check sometimes -->\n```console\n$ true\n```\n")
    assert r.returncode != 0 and "unknown marker word 'sometimes'" in r.stderr + r.stdout


def test_the_documents_mark_at_least_15_quick_commands(bin_dir, tmp_path):
    env = dict(os.environ, GFNRL_BIN=bin_dir)
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_docs"), "--quick", "--list"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and len(r.stdout.splitlines()) >= 15, r.stdout
