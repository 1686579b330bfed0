"""Command line: flags -> Config -> supervisor or a single worker. Nothing else lives here."""

from __future__ import annotations

import click

from uringasgi import __version__


def _print_kernel_info(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from uringasgi.loop import probe

    for line in probe().lines():
        click.echo(line)
    ctx.exit(0)


@click.command(context_settings={"auto_envvar_prefix": "URINGASGI"})
@click.version_option(__version__, "--version", prog_name="uringasgi")
@click.option(
    "--kernel-info",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_kernel_info,
    help="Print the io_uring and kernel TLS features this kernel offers, then exit.",
)
def main() -> None:
    """uringasgi: an io_uring ASGI server."""
    raise click.UsageError("serving an app is not built yet; try --kernel-info")
