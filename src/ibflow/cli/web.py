"""``ibflow web``: the API alone, for production where Celery workers run the executions."""

from __future__ import annotations

from ibflow import bootstrap
from ibflow.cli.common import console, err
from ibflow.cli.root import app
from ibflow.cli.serve import HostOption, PortOption


@app.command()
def web(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the API without the scheduler (executions run elsewhere) until Ctrl-C or SIGTERM."""
    from ibflow.api.server import ApiServer, exposed_warning

    container = bootstrap.build()
    settings = container.settings.api
    # With the Celery runtime a run asked for through the API goes to the workers' queue.
    run_now = container.run_now if container.settings.runner.runner == "celery" else None
    server = ApiServer(
        container, host=host or settings.http_host, port=port or settings.http_port, run_now=run_now
    )
    warning = exposed_warning(server.host)
    if warning:
        err.print(warning, soft_wrap=True)
    console.print(
        f"ibflow API at {server.url}/api/v1 (OpenAPI {server.url}/docs); Ctrl-C stops", highlight=False
    )
    server.run()
    console.print("API stopped")
