"""What the plot scripts share: matplotlib without a display, and the output name beside the
input."""
import sys


def pyplot(tool):
    """matplotlib.pyplot on the Agg backend; exits naming `tool` when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit(f"{tool}: matplotlib is missing (pip install matplotlib)")
    return plt


def fail(message):
    """An input or usage error: the message on stderr, exit status 2 (as the CLI's)."""
    print(message, file=sys.stderr)
    sys.exit(2)


def png_beside(path, suffix):
    """`path` with `suffix` (".csv", ".json") replaced by ".png"."""
    return (path[:-len(suffix)] if path.endswith(suffix) else path) + ".png"
