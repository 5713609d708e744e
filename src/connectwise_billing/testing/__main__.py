"""`python -m connectwise_billing.testing serve`: run the simulator for other tools to use."""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
import threading
from pathlib import Path

from connectwise_billing.testing._data_file import DataFileError, load_data_file
from connectwise_billing.testing._example import build_example
from connectwise_billing.testing._fake import FakeConnectWise


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m connectwise_billing.testing",
        description="Serve FakeConnectWise, the ConnectWise Manage simulator, on 127.0.0.1.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the simulator over HTTP on 127.0.0.1")
    serve.add_argument("--port", type=_port, default=8089, help="port (0: any free port)")
    seeded = serve.add_mutually_exclusive_group()
    seeded.add_argument("--example", action="store_true", help="seed the example MSP")
    seeded.add_argument(
        "--data",
        metavar="FILE",
        type=Path,
        help="seed the companies, products, agreements and additions of a JSON file",
    )
    serve.add_argument(
        "--companies", type=int, default=None, help="companies in the example (--example only)"
    )
    serve.add_argument("--seed", type=int, default=1, help="seed of the example data")
    serve.add_argument("--latency", type=float, default=0.0, help="seconds added to answers")
    serve.add_argument("--rate-limit", type=float, default=None, help="requests per minute")
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. commit_later,seconds=1,method=POST,times=1 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.companies is not None and not args.example:
        serve.error("--companies sizes the example: it takes --example")

    if args.example:
        fake = build_example(args.companies or 50, seed=args.seed).fake
    else:
        fake = FakeConnectWise(seed=args.seed)
    if args.data is not None:
        try:
            load_data_file(fake, args.data)
        except DataFileError as error:
            # The file's problems, not a usage mistake: no usage line above them.
            print(f"{serve.prog}: error: --data {args.data}: {error}", file=sys.stderr)
            return 2
    fake.latency = args.latency
    fake.rate_limit_per_minute = args.rate_limit
    for spec in args.fault:
        try:
            fake.faults.add_spec(spec)
        except ValueError as error:
            parser.error(f"--fault {spec}: {error}")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(fake.serve(args.port))
        except OSError as error:
            # Taken, or not ours to use: said in one line, exit 2 as for a bad --data file.
            if error.errno == errno.EADDRINUSE:
                said = "is in use"
            else:
                said = f"cannot be used: {error.strerror or error}"
            print(f"{serve.prog}: error: port {args.port} {said}", file=sys.stderr)
            return 2
        _banner(fake, url)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


def _banner(fake: FakeConnectWise, url: str) -> None:
    """The simulator's own throwaway keys, printed so that other tools can connect: paste the
    export lines into a shell, and the rest into a configuration file."""
    credentials = fake.credentials
    print(f"FakeConnectWise: {fake!r}", flush=True)
    print(f"Site URL       {url.split('/' + fake.codebase, maxsplit=1)[0]}", flush=True)
    print(f"API base URL   {url}", flush=True)
    print(
        f"company_id = {credentials.company_id!r}  client_id = {credentials.client_id!r}",
        flush=True,
    )
    print(f"export CW_PUBLIC_KEY={credentials.public_key}", flush=True)
    print(f"export CW_PRIVATE_KEY={credentials.private_key}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
