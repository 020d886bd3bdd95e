"""`tracewatch dashboard`: build the store's dashboard from its report tables, then say where it is, copy it,
open it or serve it on loopback."""

from __future__ import annotations

import argparse
import sys
import tempfile
import webbrowser
from pathlib import Path

from tracewatch.dashboard import build_dashboard, copy_site, local_site, site_server
from tracewatch.store import Store


def dashboard_command(store: Store, args: argparse.Namespace) -> None:
    """Build `reports/_site/index.html`; with --out, --open or --serve also a local copy or a server."""
    built = build_dashboard(store, days=args.days, end=args.end)
    print(f"dashboard of {built.start}..{built.end} (UTC): {built.uri}")
    for note in built.notes:
        print(f"  {note}", file=sys.stderr)
    folder = _local_folder(store, args)
    if folder is None:
        return
    index = folder / "index.html"
    if args.out is not None or local_site(store) is None:
        print(f"local copy: {index}")
    if args.open:
        webbrowser.open(index.resolve().as_uri())
    if args.serve:
        server = site_server(folder, args.port)
        port = server.server_address[1]
        print(f"serving {folder} at http://127.0.0.1:{port}/index.html (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()


def _local_folder(store: Store, args: argparse.Namespace) -> Path | None:
    """Where a browser on this machine reads the page: --out, else the store's own folder, else (S3) a
    temporary copy; None when nothing local was asked for."""
    if args.out is not None:
        copy_site(store, Path(args.out))
        return Path(args.out)
    if not (args.open or args.serve):
        return None
    own = local_site(store)
    if own is not None:
        return own
    folder = Path(tempfile.mkdtemp(prefix="tracewatch-dashboard-"))
    copy_site(store, folder)
    return folder
