"""List the installed styles: bundled ones and your own (user styles override bundled ones
of the same name). Add a style by training one (`camstyle train`) or by copying its
NAME.onnx and NAME.json into the user styles folder shown below the table.
"""

from __future__ import annotations

import argparse
import json

HELP = "list installed styles"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from camstyle import paths
    from camstyle.styles import discover_styles

    styles = discover_styles()
    if args.json:
        print(json.dumps([{"name": s.name, "title": s.title, "artist": s.artist, "origin": s.origin,
                           "path": str(s.model_path), "sample": str(s.sample_path) if s.sample_path else None,
                           "inference_size": list(s.inference_size) if s.inference_size else None}
                          for s in styles], indent=2))
        return 0
    console = Console(highlight=False)
    if not styles:
        console.print("No styles are installed.")
        console.print(f"Train one with `camstyle train PAINTING --name NAME`, or copy a style's .onnx and .json into "
                      f"{paths.user_styles_dir()}", markup=False)
        return 0
    table = Table(title="CamStyle styles", title_justify="left")
    for column in ("name", "title", "artist", "origin", "path"):
        table.add_column(column, overflow="fold", style="bold" if column == "name" else None)
    for style in styles:
        broken = " (metadata unreadable)" if style.meta.get("broken_metadata") else ""
        table.add_row(style.name, style.title + broken, style.artist, style.origin, str(style.model_path))
    console.print(table)
    console.print(f"Your styles folder: {paths.user_styles_dir()}", markup=False)
    return 0
