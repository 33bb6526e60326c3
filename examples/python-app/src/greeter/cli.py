"""The `greet` console script."""

import sys


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "world"
    print(f"Hello, {name}, from Python {sys.version_info.major}.{sys.version_info.minor}!")
    return 0
