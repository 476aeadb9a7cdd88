"""``python -m sim serve``: run the simulator in the foreground until SIGINT or SIGTERM.

    python -m sim serve --port 8001 --kubeconfig /tmp/sim.kubeconfig \\
        --context prod --context staging --load deploy/playground.yaml
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from sim.errors import ApiError
from sim.server import SimServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Kubernetes API on 127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    serve.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig to write")
    serve.add_argument(
        "--context",
        action="append",
        dest="contexts",
        help="a context name in the kubeconfig (repeatable; default: sim)",
    )
    serve.add_argument("--namespace", default="default", help="the contexts' namespace")
    serve.add_argument(
        "--no-controllers", action="store_true", help="API only: no Deployment controller, pods"
    )
    serve.add_argument(
        "--load", action="append", type=Path, default=[], help="YAML of objects to create"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with SimServer(args.port, controllers=[] if args.no_controllers else None) as sim:
        try:
            for path in args.load:
                sim.load_yaml(path.read_text())
        except (OSError, ApiError) as err:
            print(f"sim: cannot load objects: {err}", file=sys.stderr)
            return 2
        sim.write_kubeconfig(
            args.kubeconfig, contexts=args.contexts or ["sim"], namespace=args.namespace
        )
        print(f"sim: serving on {sim.url} (kubeconfig {args.kubeconfig})", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
