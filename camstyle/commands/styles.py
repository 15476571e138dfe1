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
    # Readable at 80 columns: names never wrap, the painting folds, and the two folders are
    # printed once below instead of a long path on every row (--json has each file's path).
    table = Table(title="CamStyle styles", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("painting", overflow="fold", ratio=1)
    table.add_column("origin", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for style in styles:
        problem = problems[style.name]
        state = "[bold red]BROKEN[/]" if problem else "[green]ok[/]"
        painting = ", ".join(part for part in (style.title, style.artist) if part)
        table.add_row(escape(style.name), escape(painting), style.origin, state)
    console.print(table)
    broken = [name for name, problem in problems.items() if problem]
    if broken:
        console.print(f"{len(broken)} broken style(s), which CamStyle cannot switch to:", style="red")
        for name in broken:
            console.print(f"  {name}: {problems[name]}", markup=False)
        console.print("Re-export them with `camstyle export` or delete their files.", markup=False)
    console.print(f"Bundled styles: {paths.bundled_styles_dir()}", markup=False)
    console.print(f"Your styles folder: {paths.user_styles_dir()} (a style there overrides a bundled one "
                  f"of the same name)", markup=False)
    return 0
