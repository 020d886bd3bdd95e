"""The JavaScript that draws the charts: Vega, Vega-Lite and vega-embed in one file, from vl-convert.

vl-convert ships the libraries inside its wheel, so building the page needs no network and the page loads no
CDN. Bundling takes seconds, so the file is named by its versions and written to the store once.
"""

from __future__ import annotations

import functools

import altair as alt
import vl_convert

ASSETS = "assets"


def vega_lite_version() -> str:
    """The Vega-Lite `major.minor` of altair's schema, which the specs are validated against."""
    major, minor, *_ = alt.SCHEMA_VERSION.lstrip("v").split(".")
    return f"{major}.{minor}"


def bundle_name() -> str:
    """The asset's file name: a new vl-convert or Vega-Lite gives a new name, so no stale bundle is reused."""
    vega, embed = vl_convert.get_vega_version(), vl_convert.get_vega_embed_version()
    return f"vega-{vega}-lite-{vega_lite_version()}-embed-{embed}.js"


@functools.cache
def javascript_bundle() -> bytes:
    """Vega, Vega-Lite and vega-embed as one classic script (no ES module: `file://` pages cannot import one)."""
    # The stub marks `snippet` required; without it vl-convert uses its default (the globals the page calls).
    return vl_convert.javascript_bundle(vl_version=vega_lite_version()).encode()  # type: ignore[call-arg]
