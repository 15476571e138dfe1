"""Show, check or create the CamStyle settings file.

  camstyle config               where the file is, whether it is valid, the effective settings
  camstyle config --init        write a commented file with all defaults (--force replaces one)
  camstyle config --path        print only the file's path (for scripts and editors)

Exits non-zero when the file is invalid, naming the setting to fix.
"""

from __future__ import annotations

import argparse

HELP = "show, check or create the settings file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--init", action="store_true", help="write a commented default config file")
    group.add_argument("--path", action="store_true", help="print only the config file's path")
    parser.add_argument("--force", action="store_true", help="with --init: replace an existing file")


def run(args: argparse.Namespace) -> int:
    from camstyle import config, paths

    path = paths.config_file()
    if args.path:
        print(path)
        return 0
    if args.force and not args.init:
        from camstyle.errors import ConfigError

        raise ConfigError("--force only goes with --init.", "Use `camstyle config --init --force` to replace the file with defaults.")

    from rich.console import Console

    console = Console(highlight=False)
    if args.init:
        existed = path.exists()
        config.write_default_config(path, force=args.force)
        console.print(f"{'Replaced' if existed else 'Wrote'} [bold]{path}[/] with the default settings.")
        console.print("Edit it, then check it with [bold]camstyle config[/].")
        return 0

    console.print(f"Config file  [bold]{path}[/]")
    if not path.exists():
        console.print("             [dim]not created yet, so the defaults apply[/]")
        console.print("             [dim]`camstyle config --init` writes a commented copy to edit[/]")
    cfg = config.load_config(path)  # raises ConfigError, naming the key, when invalid
    if cfg.from_file:
        console.print("             [green]valid[/]")
    console.print(settings_table(cfg))
    return 0


def settings_table(cfg):
    """Effective settings; the ones changed from the defaults are highlighted."""
    from rich.table import Table

    from camstyle.config import SCHEMA, toml_value

    table = Table(title="Effective settings", title_justify="left", header_style="bold", show_edge=False, pad_edge=False)
    table.add_column("Setting")
    table.add_column("Value")
    table.add_column("")
    for section, values in cfg.as_dict().items():
        for key, value in values.items():
            changed = value != SCHEMA[section][key].default
            table.add_row(f"{section}.{key}", toml_value(value), "[yellow]changed[/]" if changed else "[dim]default[/]",
                          style="bold" if changed else None)
        table.add_section()
    return table
