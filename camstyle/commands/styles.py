"""List the installed styles: bundled ones and your own (user styles override bundled ones
of the same name), each checked as `camstyle doctor` does: a broken one is marked with why.
Add a style by training one (`camstyle train`) or by copying its NAME.onnx and NAME.json
into the user styles folder shown below the table.
"""

from __future__ import annotations

import argparse
import json

HELP = "list installed styles"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from camstyle import paths
    from camstyle.stylize.styles import discover_styles, style_problem

    styles = discover_styles()
    problems = {s.name: style_problem(s) for s in styles}
    if args.json:
        print(json.dumps([{"name": s.name, "title": s.title, "artist": s.artist, "origin": s.origin,
                           "path": str(s.model_path), "sample": str(s.sample_path) if s.sample_path else None,
                           "inference_size": list(s.inference_size) if s.inference_size else None,
                           "problem": problems[s.name]}
                          for s in styles], indent=2))
        return 0
    console = Console(highlight=False)
    if not styles:
        console.print("No styles are installed.")
        console.print(f"Train one with `camstyle train PAINTING --name NAME`, or copy a style's .onnx and .json into "
                      f"{paths.user_styles_dir()}", markup=False)
        return 0
    table = Table(title="CamStyle styles", title_justify="left")
    for column in ("name", "title", "artist", "origin", "state", "path"):
        table.add_column(column, overflow="fold", style="bold" if column == "name" else None)
    for style in styles:
        problem = problems[style.name]
        state = "[bold red]BROKEN[/]" if problem else "[green]ok[/]"
        table.add_row(escape(style.name), escape(style.title), escape(style.artist), style.origin, state,
                      escape(str(style.model_path)))
    console.print(table)
    broken = [name for name, problem in problems.items() if problem]
    if broken:
        console.print(f"{len(broken)} broken style(s), which CamStyle cannot switch to:", style="red")
        for name in broken:
            console.print(f"  {name}: {problems[name]}", markup=False)
        console.print("Re-export them with `camstyle export` or delete their files.", markup=False)
    console.print(f"Your styles folder: {paths.user_styles_dir()}", markup=False)
    return 0
