"""The CLI (9, top; installed as ``dcellx_cli``): thin Typer commands calling the library."""
