"""The plot scripts (tools/plot_*.py) on files the CLI writes: each draws a non-blank PNG, and
refuses a file that is not its input with exit status 2, a message naming it, and no PNG."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
GRID = ["--ndim", "2", "--height", "8", "--backend", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def cli():
    path = os.environ.get("GFNRL_CLI")
    if not path:
        pytest.skip("set GFNRL_CLI to the gfnrl executable to make the plots' inputs")
    pytest.importorskip("matplotlib")
    return path


def plot(script, *args):
    return subprocess.run([sys.executable, str(TOOLS / script), *map(str, args)],
                          capture_output=True, text=True)


def drawn(png):
    """The PNG's pixels: a real image (PNG signature), not one flat colour."""
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    pixels = matplotlib.image.imread(str(png))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.01, "the figure is blank"
    return pixels


def test_convergence_and_distribution_plots_of_a_train(cli, tmp_path):
    curve, snaps = tmp_path / "curve.csv", tmp_path / "snap.csv"
    subprocess.run([cli, "train", "--runs", "2", "--steps", "100", "--eval-every", "50", "--out",
                    curve, "--snapshot-every", "50", "--snapshot-out", snaps, *GRID], check=True)
    r = plot("plot_convergence.py", curve)
    assert r.returncode == 0, r.stderr
    drawn(tmp_path / "curve.png")  # beside the CSV by default
    r = plot("plot_distribution.py", snaps, "-o", tmp_path / "mass.png", "--rows", "2")
    assert r.returncode == 0, r.stderr
    drawn(tmp_path / "mass.png")


def test_sensitivity_plot_of_a_tune(cli, tmp_path):
    best = tmp_path / "tune.json"
    subprocess.run([cli, "tune", "--algos", "tb,db", "--seeds", "2", "--lr", "0.02,0.1",
                    "--steps", "60", "--eval-every", "30", "--out", tmp_path / "tune.csv",
                    "--best", best, *GRID], check=True, stdout=subprocess.DEVNULL)
    r = plot("plot_sensitivity.py", best, "-o", tmp_path / "lr.png")
    assert r.returncode == 0, r.stderr
    drawn(tmp_path / "lr.png")


@pytest.mark.parametrize("script", ["plot_convergence.py", "plot_distribution.py",
                                    "plot_sensitivity.py"])
def test_a_file_that_is_not_the_input_exits_2(cli, tmp_path, script):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    r = plot(script, bad, "-o", tmp_path / "bad.png")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert str(bad) in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "bad.png").exists()
