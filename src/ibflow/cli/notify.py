"""``ibflow notify ...``: notification targets (apprise URLs) and a test message; URLs are shown masked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, console, fail
from ibflow.cli.render import JsonOption, print_json, table
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

if TYPE_CHECKING:
    from ibflow.notify.targets import Actor

notify_app = typer.Typer(
    help="Notifications: test a URL, add, list, enable, disable, remove targets.", no_args_is_help=True
)
app.add_typer(notify_app, name="notify")

UrlArgument = Annotated[
    str, typer.Argument(help="An apprise URL, e.g. ntfy://ntfy.sh/TOPIC or tgram://TOKEN/CHAT.")
]
IdArgument = Annotated[int, typer.Argument(help="The target's id (`ibflow notify list`).", min=1)]


def _actor(name: str) -> Actor:
    from ibflow.notify.targets import Actor
    from ibflow.trading.audit import person_actor

    return Actor(name=person_actor(name), user_id=None, admin=True)  # the CLI has the machine owner's rights


@notify_app.command("test")
def notify_test(url: UrlArgument) -> None:
    """Send a test message to URL now (nothing is stored); one line says whether it went."""
    from ibflow.notify.message import test_message
    from ibflow.notify.transport import check_url, mask_url

    container = bootstrap.build()
    try:
        clean = check_url(url)
        title, body = test_message(container.clock.now())
        container.notify_transport().send(clean, title=title, body=body)
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"sent a test message to {escape(mask_url(clean))}", highlight=False)


@notify_app.command("add")
def notify_add(
    url: UrlArgument,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="Comma-separated notifications (default: all but risk_block; `all` for every one): "
            "order_filled, order_rejected, needs_confirmation, exit, protection_missing, execution_failed, "
            "risk_block, broker_session, trading_state, reconcile_mismatch, llm_budget.",
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="The user it belongs to (default: global).")
    ] = None,
    label: Annotated[str, typer.Option("--label", help="A name to tell it apart.")] = "",
    actor: ActorOption = "cli",
) -> None:
    """Add a target: the events it subscribes to go to URL from now on (audited; the URL is never shown)."""
    from ibflow.notify.targets import add_target, view

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            target = add_target(
                session,
                url=url,
                actor=_actor(actor),
                clock=container.clock,
                owner=user,
                label=label,
                notifications=events.split(",") if events else None,
            )
            shown = view(session, target)
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(
        f"added notification target {shown.id} ({escape(shown.owner)}): {escape(shown.url)} "
        f"for {', '.join(shown.notifications)}",
        highlight=False,
        soft_wrap=True,
    )


@notify_app.command("list")
def notify_list(as_json: JsonOption = False) -> None:
    """List the targets (URLs masked) with their deliveries sent, pending and failed."""
    from ibflow.notify.targets import delivery_counts, list_targets, view

    container = bootstrap.build()
    with container.read_sessions() as session:
        targets = list_targets(session, actor=_actor("cli"))
        counts = delivery_counts(session, [t.id for t in targets])
        rows = [{**view(session, t).as_dict(), "deliveries": counts[t.id]} for t in targets]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(
            "no notification targets: `ibflow notify add URL` (try it first: `ibflow notify test URL`)"
        )
        return
    grid = table(
        "notification targets",
        "id",
        "owner",
        "url",
        "label",
        "on",
        "notifications",
        "sent/pending/failed",
        wrap=("notifications",),
    )
    for row in rows:
        done = row["deliveries"]
        grid.add_row(
            str(row["id"]),
            escape(str(row["owner"])),
            escape(str(row["url"])),
            escape(str(row["label"]) or "-"),
            "yes" if row["enabled"] else "no",
            ", ".join(row["notifications"]),
            f"{done['sent']}/{done['pending']}/{done['failed']}",
        )
    console.print(grid)


def _switch(target_id: int, *, enabled: bool, actor: str) -> None:
    from ibflow.notify.targets import set_enabled

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            set_enabled(session, target_id, enabled=enabled, actor=_actor(actor), clock=container.clock)
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"notification target {target_id} {'enabled' if enabled else 'disabled'}")


@notify_app.command("enable")
def notify_enable(target_id: IdArgument, actor: ActorOption = "cli") -> None:
    """Send to this target again (deliveries held while it was off go out too)."""
    _switch(target_id, enabled=True, actor=actor)


@notify_app.command("disable")
def notify_disable(target_id: IdArgument, actor: ActorOption = "cli") -> None:
    """Stop sending to this target (new events are not queued for it meanwhile)."""
    _switch(target_id, enabled=False, actor=actor)


@notify_app.command("remove")
def notify_remove(target_id: IdArgument, actor: ActorOption = "cli") -> None:
    """Delete a target and its delivery records (audited)."""
    from ibflow.notify.targets import remove_target

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            remove_target(session, target_id, actor=_actor(actor), clock=container.clock)
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"removed notification target {target_id}")
