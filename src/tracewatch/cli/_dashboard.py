"""`tracewatch dashboard`: build the store's dashboard from its report tables (or one project's page of it),
then say where it is, copy it, open it or serve it on loopback."""

from __future__ import annotations

import argparse
import sys
import tempfile
import webbrowser
from pathlib import Path

from tracewatch.dashboard import SITE_PREFIX, build_dashboard, copy_site, local_site, site_server
from tracewatch.store import Store


def dashboard_command(store: Store, args: argparse.Namespace) -> None:
    """Build `reports/_site/index.html` (and a page per project when there are several; --project: that
    project's page only); with --out, --open or --serve also a local copy or a server."""
    built = build_dashboard(store, days=args.days, end=args.end, project=args.project)
    print(f"dashboard of {built.start}..{built.end} (UTC): {built.uri}")
    if len(built.pages) > 1:
        print(f"  and one page per project: {', '.join(built.projects)}")
    for note in built.notes:
        print(f"  {note}", file=sys.stderr)
    folder = _local_folder(store, args)
    if folder is None:
        return
    # The page this build is about: the all-projects one, or --project's, a relative path under the site.
    page = built.key[len(SITE_PREFIX) + 1 :]
    index = folder / page
    if args.out is not None or local_site(store) is None:
        print(f"local copy: {index}")
    if args.open:
        webbrowser.open(index.resolve().as_uri())
    if args.serve:
        server = site_server(folder, args.port)
        port = server.server_address[1]
        print(f"serving {folder} at http://127.0.0.1:{port}/{page} (Ctrl-C stops)", flush=True)
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
