"""``ibflow web``: the web app and the API alone, for production where Celery workers run the executions."""

from __future__ import annotations

from ibflow import bootstrap
from ibflow.cli.common import console, err
from ibflow.cli.root import app
from ibflow.cli.serve import HostOption, PortOption


@app.command()
def web(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the pages and the API without the scheduler (it runs elsewhere) until Ctrl-C or SIGTERM."""
    from ibflow.api.server import ApiServer, exposed_warning
    from ibflow.web.site import mount_site

    container = bootstrap.build()
    settings = container.settings.api
    # With the Celery runtime a run asked for through the API goes to the workers' queue.
    run_now = container.run_now if container.settings.runner.runner == "celery" else None
    server = ApiServer(
        container,
        host=host or settings.http_host,
        port=port or settings.http_port,
        run_now=run_now,
        site=mount_site,
    )
    warning = exposed_warning(server.host)
    if warning:
        err.print(warning, soft_wrap=True)
    console.print(
        f"ibflow at {server.url}/ (API {server.url}/api/v1, OpenAPI {server.url}/docs); Ctrl-C stops",
        highlight=False,
    )
    server.run()
    console.print("API stopped")
