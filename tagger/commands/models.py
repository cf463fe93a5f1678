"""`tagger models ...`: the model registry (versions and the `current` pointer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

models_app = typer.Typer(
    help="A model registry: versions of one model and the `current` pointer that serve, "
    "predict and learn follow (docs/desk.md).",
    no_args_is_help=True,
)
RegistryArg = Annotated[Path, typer.Argument(help="The registry folder (models/NAME).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
By = Annotated[str | None, typer.Option("--by", help="Who did it (kept in the history).")]


def _echo(text: str) -> None:
    from tagger.console import escape_terminal

    typer.echo(escape_terminal(text))


def _json(value: Any) -> None:
    _echo(json.dumps(value, indent=2, ensure_ascii=False))


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) > 1:
        return f"{int(value)}"
    return f"{value:.4f}"


@models_app.command("init")
def init_command(
    registry: RegistryArg,
    source: Annotated[
        Path | None,
        typer.Option("--from", help="A bundle to add as v1 and make current."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The registry's name.")] = None,
) -> None:
    """Create a registry; with --from, its first version (current, as nothing else is)."""
    from tagger.registry import Registry

    reg = Registry.init(registry, name)
    typer.echo(f"registry {registry}", err=True)
    if source is not None:
        version = _add(reg, source)
        reg.promote(version, by="init")
        typer.echo(f"{version} is current", err=True)


def _add(reg: Any, source: Path) -> str:
    from tagger.api import Tagger

    model = Tagger.load(source)  # verified like any load; written again as a new version
    manifest = model.save(reg.path)
    typer.echo(f"added {reg.path / str(model.version)} (model id {manifest['model_id']})", err=True)
    return str(model.version)


@models_app.command("add")
def add_command(
    registry: RegistryArg,
    bundle: Annotated[Path, typer.Argument(help="A bundle folder to add as a new version.")],
) -> None:
    """Add a bundle as the registry's next version (not promoted)."""
    from tagger.registry import Registry

    _add(Registry(registry), bundle)


@models_app.command("list")
def list_command(registry: RegistryArg, as_json: AsJson = False) -> None:
    """Every version: model id, created, articles, labels, the headline metrics."""
    from tagger.registry import Registry

    reg = Registry(registry)
    rows = [reg.summary(v) for v in reg.versions()]
    if as_json:
        _json({"registry": str(registry), "current": reg.current(), "versions": rows})
        return
    if not rows:
        typer.echo(f"{registry}: no versions yet (tagger train ... --out {registry})", err=True)
        return
    _echo(
        f"  {'version':<9}{'model id':<14}{'created':<27}{'articles':>9}{'sections':>9}"
        f"{'tags':>6}{'tags F1':>9}{'sect acc':>9}"
    )
    for r in rows:
        m = r["metrics"]
        _echo(
            f"{'*' if r['current'] else ' '} {r['version']:<9}{r['model_id']:<14}"
            f"{r['created_at']:<27}{r['articles'] or 0:>9}{r['sections']:>9}{r['tags']:>6}"
            f"{_num(m.get('tags.micro_f1')):>9}{_num(m.get('sections.accuracy')):>9}"
        )


@models_app.command("show")
def show_command(
    registry: RegistryArg,
    version: Annotated[str, typer.Argument(help="v1, v2, ... (default: current).")] = "current",
    as_json: AsJson = False,
) -> None:
    """One version: its facts, metrics, lineage, and the history of the pointer."""
    from tagger.registry import Registry

    reg = Registry(registry)
    summary = reg.summary(version)
    history = [e.__dict__ for e in reg.history() if summary["version"] in (e.version, e.previous)]
    if as_json:
        _json({**summary, "history": history})
        return
    for key in ("version", "current", "path", "model_id", "name", "created_at", "articles"):
        _echo(f"{key:<12}{summary[key]}")
    _echo(f"{'labels':<12}{summary['sections']} sections, {summary['tags']} tags")
    if summary["lineage"]:
        _echo(f"{'lineage':<12}{json.dumps(summary['lineage'], ensure_ascii=False)}")
    for metric, value in summary["metrics"].items():
        _echo(f"  {metric:<28}{_num(value)}")
    for e in history:
        moved = f"{e['previous'] or '-'} -> {e['version']}"
        _echo(f"  {e['at']}  {e['action']:<9}{moved}  {e['by'] or ''}")


@models_app.command("promote")
def promote_command(
    registry: RegistryArg,
    version: Annotated[str, typer.Argument(help="The version to make current (v1, v2, ...).")],
    by: By = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Feedback store (PATH or sqlite:///PATH): replay VERSION against current first.",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Replay only articles decided from this date.")
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0, help="A replay drop this small is not worse.")
    ] = 0.0,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even when the replay says it is worse.")
    ] = False,
) -> None:
    """Make VERSION current: serve, predict and learn follow it (the swap is atomic).

    With --db, VERSION is first replayed against current on the editors' decisions
    (tagger replay) and refused when it is worse, unless --force."""
    from tagger.registry import Registry

    check = None
    if db is not None:
        from tagger.feedback.replay import promotion_check

        check = promotion_check(db, since=since, tolerance=tolerance, force=force, echo=_echo)
    event = Registry(registry).promote(version, by=by, check=check)
    if event is None:
        typer.echo(f"{version} is already current", err=True)
        return
    if db is None:  # said once it happened, not before an error
        typer.echo("no --db: promoted without replaying it on the editors' decisions", err=True)
    typer.echo(f"current: {event.previous or '(none)'} -> {event.version}", err=True)


@models_app.command("rollback")
def rollback_command(registry: RegistryArg, by: By = None) -> None:
    """Point `current` back at the version that was current before it."""
    from tagger.registry import Registry

    event = Registry(registry).rollback(by=by)
    typer.echo(f"current: {event.previous} -> {event.version} (rolled back)", err=True)


@models_app.command("diff")
def diff_command(
    registry: RegistryArg,
    a: Annotated[str, typer.Argument(help="A version (or current).")],
    b: Annotated[str, typer.Argument(help="Another version (or current).")],
    as_json: AsJson = False,
    top: Annotated[int, typer.Option("--top", min=0, help="Threshold moves to show.")] = 20,
) -> None:
    """Labels added and removed, thresholds moved, metrics side by side, from A to B."""
    from tagger.registry import Registry

    d = Registry(registry).diff(a, b)
    if as_json:
        _json(d)
        return
    _echo(f"{d['a']} ({d['model_ids'][0]}) -> {d['b']} ({d['model_ids'][1]})")
    for kind in ("sections", "tags"):
        for change in ("added", "removed"):
            labels = d[kind][change]
            _echo(f"{kind} {change} ({len(labels)}): {', '.join(labels) if labels else '-'}")
    moved = d["thresholds"]
    shown = f" (largest {min(top, len(moved))})" if moved else ""
    _echo(f"thresholds moved: {len(moved)}{shown}")
    for r in moved[:top]:
        _echo(f"  {r['tag']:<30}{r['a']:>8.4f}{r['b']:>8.4f}{r['change']:>+9.4f}")
    _echo(f"{'metric':<30}{d['a']:>10}{d['b']:>10}{'change':>10}")
    for r in d["metrics"]:
        change = "" if r["a"] is None or r["b"] is None else _num(r["b"] - r["a"])
        if change and not change.startswith("-"):
            change = "+" + change
        _echo(f"{r['metric']:<30}{_num(r['a']):>10}{_num(r['b']):>10}{change:>10}")
