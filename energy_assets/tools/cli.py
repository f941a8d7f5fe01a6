"""``energy-assets``: the local AWS, seeding, the end-to-end demo and the replay."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from energy_assets.settings import Settings


def project_root() -> Path:
    """The folder holding dagster.yaml and workspace.yaml (the current one, or the checkout)."""
    for folder in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]):
        if (folder / "dagster.yaml").exists() and (folder / "workspace.yaml").exists():
            return folder
    raise SystemExit("run energy-assets from the project folder (with dagster.yaml)")


def cmd_local_aws(args: argparse.Namespace) -> int:
    from energy_assets.localaws import run_forever

    return run_forever(args.host, args.port, args.runtime_port)


def _resources() -> dict:
    from energy_assets.orchestration.definitions import build_resources
    from energy_assets.settings import Settings

    return build_resources(Settings())


def cmd_models(args: argparse.Namespace) -> int:
    """The registry: every registered version, its approval, metrics, whether its artifact
    still verifies and which one the endpoint answers with now."""
    from energy_assets.tools.registry_view import registry_table

    resources = _resources()
    print(registry_table(resources["sagemaker"], resources["storage"]))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from energy_assets.release.rollout import ArtifactNotVerified, SmokeTestFailed, rollback

    resources = _resources()
    try:
        record = rollback(resources["storage"], resources["sagemaker"], args.version)
    except (ValueError, SmokeTestFailed, ArtifactNotVerified) as error:
        print(f"rollback failed: {error}", file=sys.stderr)
        return 1
    print(
        f"endpoint {record['endpoint']} serves {args.version} again "
        f"(was {record.get('rolled_back_from')}); smoke test forecast "
        f"{[round(v, 2) for v in record['smoke_test']['forecast']]}"
    )
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.resources import UsageTableResource
    from energy_assets.settings import Settings, parse_names
    from energy_assets.tools.seed import read_usage_csv, seed_table

    settings = Settings()
    table = UsageTableResource(table_name=args.table or settings.table, region_name=settings.region)
    if args.nem12 or args.greenbutton:
        return _seed_meter_files(args, settings, table)
    if args.csv:
        frame = read_usage_csv(
            args.csv,
            date_column=args.date_column,
            usage_column=args.usage_column,
            meter_column=args.meter_column,
            sep=args.sep,
        )
    else:
        frame = generate_usage(n_meters=args.meters, n_days=args.days, seed=args.seed)
    covariates = parse_names(args.covariates) if args.covariates is not None else None
    summary = seed_table(
        table,
        frame,
        single_series=True if args.single_series else None,
        covariates=covariates,
        country=args.country,
        subdiv=args.subdiv,
    )
    print(
        f"seeded {summary.rows} items into {summary.table} "
        f"({summary.meters} meter(s), {summary.first_date} .. {summary.last_date}; "
        f"covariates: {', '.join(summary.covariates) or 'none'}; "
        f"public holidays: {summary.place or 'none (--country)'})"
    )
    for note in summary.notes:
        print(f"note: {note}")
    if summary.first_date < settings.history_start:
        print(
            f"note: the data starts before ENERGY_ASSETS_HISTORY_START={settings.history_start}; "
            f"set ENERGY_ASSETS_HISTORY_START={summary.first_date} to export all of it"
        )
    return 0


def _seed_meter_files(args: argparse.Namespace, settings, table) -> int:
    """NEM12 / Green Button files: all read first, so a bad file writes nothing."""
    from dagster_aws.s3 import S3Resource

    from energy_assets.meterfiles import MeterFileError, read_meter_file
    from energy_assets.meterfiles.load import import_meter_files
    from energy_assets.resources import S3Storage

    files = [("nem12", f) for f in args.nem12 or []] + [
        ("greenbutton", f) for f in args.greenbutton or []
    ]
    storage = S3Storage(bucket=settings.bucket, s3=S3Resource(region_name=settings.region))
    try:
        results = [
            read_meter_file(
                path,
                kind,
                timezone=args.timezone,
                meter_id=args.meter_id,
                fallback_timezone=os.environ.get("ENERGY_ASSETS_TIMEZONE") or None,
            )
            for kind, path in files
        ]
        summary = import_meter_files(table, results, storage)
    except MeterFileError as error:
        print(f"seed failed, nothing written: {error}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    if summary.first_date and summary.first_date < settings.history_start:
        print(
            f"note: the data starts before ENERGY_ASSETS_HISTORY_START={settings.history_start}; "
            f"set ENERGY_ASSETS_HISTORY_START={summary.first_date} to export all of it"
        )
    return 0


def cmd_notebook_instance(args: argparse.Namespace) -> int:
    """The notebook step on SageMaker (or the local AWS): create or reuse, url, stop, delete."""
    from energy_assets import layout
    from energy_assets.notebooks import instance as nb

    resources = _resources()
    client = resources["sagemaker"].client()
    poll = 0.5 if os.environ.get("AWS_ENDPOINT_URL") else 15.0
    try:
        if args.action == "create":
            spec = nb.InstanceSpec(
                name=args.name,
                instance_type=args.instance_type,
                volume_size_gb=args.volume_gb,
                role_arn=resources["sagemaker"].role_arn,
            )
            found, url = nb.open_instance(
                client,
                resources["storage"],
                spec,
                layout.train(layout.explored_shard(resources["storage"].shards)),
                wait=not args.no_wait,
                poll=poll,
            )
            print(f"notebook instance {args.name} is {found['NotebookInstanceStatus']}")
            if url:
                print(f"Jupyter: {url}")
        elif args.action == "url":
            print(nb.presigned_url(client, args.name))
        elif args.action == "status":
            found = nb.describe(client, args.name)
            print(
                f"notebook instance {args.name}: "
                + (
                    f"{found['NotebookInstanceStatus']} ({found['InstanceType']}, "
                    f"{found.get('VolumeSizeInGB')} GB)"
                    if found
                    else "absent"
                )
            )
        elif args.action == "stop":
            state = nb.stop(client, args.name, wait=not args.no_wait, poll=poll)
            print(f"notebook instance {args.name} is {state}")
        else:
            state = nb.delete(client, args.name, wait=not args.no_wait, poll=poll)
            print(f"notebook instance {args.name}: {state}")
    except nb.NotebookInstanceError as error:
        print(f"notebook-instance {args.action} failed: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_notebook(args: argparse.Namespace) -> int:
    """exploration.ipynb in a local Jupyter whose kernels reach the local AWS."""
    from energy_assets.notebooks.local import run_local_notebook

    return run_local_notebook(
        home=Path(args.dir) if args.dir else project_root() / "notebook-home",
        host=args.host,
        port=args.port,
        real_aws=args.real_aws,
    )


def cmd_app(args: argparse.Namespace) -> int:
    from energy_assets.app.api import app_from_env
    from energy_assets.background import bind_socket, client_host, uvicorn_server
    from energy_assets.errors import CommandError
    from energy_assets.settings import Settings

    token = Settings().app_token
    link = f"#token={token}" if token else ""  # the page keeps it; the fragment reaches no server
    try:
        sock = bind_socket(args.host, args.port)  # --port 0: a free port, printed below
    except RuntimeError as error:
        raise CommandError(str(error)) from None
    port = sock.getsockname()[1]
    print(
        f"energy_assets app on http://{client_host(args.host)}:{port}/{link} (API docs at /docs)",
        flush=True,
    )
    try:
        uvicorn_server(app_from_env()).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from energy_assets.settings import parse_names
    from energy_assets.tools.demo import run_demo

    return run_demo(
        root=project_root(),
        meters=args.meters,
        days=args.days,
        csv=args.csv,
        ui=not args.no_ui,
        ui_port=args.ui_port,
        app_port=args.app_port,
        aws_port=args.aws_port,
        runtime_port=args.runtime_port,
        covariates=parse_names(args.covariates) if args.covariates is not None else None,
        country=args.country,
        subdiv=args.subdiv,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    from energy_assets.tools.simulate import run_simulation

    os.environ.setdefault("DAGSTER_HOME", str(project_root()))
    return run_simulation(
        meters=args.meters,
        days=args.days,
        history_days=args.history_days,
        shift=args.shift,
        seed=args.seed,
        aws_port=args.aws_port,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="energy-assets", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    aws = sub.add_parser("local-aws", help="serve DynamoDB, S3, SageMaker, CloudWatch locally")
    aws.add_argument("--host", default="127.0.0.1")
    aws.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", 4566)))
    aws.add_argument(
        "--runtime-port", type=int, default=int(os.environ.get("LOCAL_AWS_RUNTIME_PORT", 4567))
    )
    aws.set_defaults(func=cmd_local_aws)

    models = sub.add_parser("models", help="list registered model versions and which serves")
    models.set_defaults(func=cmd_models)

    back = sub.add_parser("rollback", help="serve an earlier model version again")
    back.add_argument("version", help="a version that served before (see `energy-assets models`)")
    back.set_defaults(func=cmd_rollback)

    seed = sub.add_parser("seed", help="create and fill the usage table")
    files = seed.add_mutually_exclusive_group()
    files.add_argument("--csv", help="CSV with columns meter_id,date,usage (meter_id optional)")
    seed.add_argument("--date-column", help="the CSV's date column (default: date, day, ...)")
    seed.add_argument("--usage-column", help="the CSV's usage column (default: usage, kwh, ...)")
    seed.add_argument("--meter-column", help="the CSV's meter column (default: meter_id, ...)")
    seed.add_argument("--sep", help="the CSV's separator (default: found from the header)")
    seed.add_argument(
        "--covariates",
        help="columns written beside usage, comma-separated (default ENERGY_ASSETS_COVARIATES; "
        "the demo's generated data declares temperature, seed's only what you declare)",
    )
    seed.add_argument(
        "--country",
        help="where the meters are, for public holidays (holidays library code: AU, US, GB, "
        "MA, ...); tagged on the table, training reads it",
    )
    seed.add_argument("--subdiv", help="the state or region within --country (e.g. VIC, CA)")
    seed.add_argument(
        "--meters", type=int, default=12, help="generated data: meters (default %(default)s)"
    )
    seed.add_argument(
        "--days", type=int, default=730, help="generated data: days each (default %(default)s)"
    )
    seed.add_argument(
        "--seed", type=int, default=0, help="generated data: random seed (default %(default)s)"
    )
    seed.add_argument("--table", help="table name (default ENERGY_ASSETS_TABLE)")
    seed.add_argument("--single-series", action="store_true", help="key the table by date alone")
    files.add_argument(
        "--nem12", nargs="+", metavar="FILE", help="NEM12 interval files (meters NMI-channel)"
    )
    files.add_argument(
        "--greenbutton",
        nargs="+",
        metavar="FILE",
        help="Green Button files: ESPI XML or the Download My Data CSV",
    )
    seed.add_argument(
        "--timezone", help="Green Button: IANA zone of the meter's days (default: the file's)"
    )
    seed.add_argument("--meter-id", help="Green Button: the meter id (one meter per file)")
    seed.set_defaults(func=cmd_seed)

    nbi = sub.add_parser(
        "notebook-instance", help="a SageMaker notebook instance with the exploration notebook"
    )
    nbi.add_argument("action", choices=["create", "url", "status", "stop", "delete"])
    nbi.add_argument("--name", default="energy-assets-exploration")
    nbi.add_argument("--instance-type", default="ml.t3.medium")
    nbi.add_argument("--volume-gb", type=int, default=5)
    nbi.add_argument("--no-wait", action="store_true", help="do not wait for the new state")
    nbi.set_defaults(func=cmd_notebook_instance)

    note = sub.add_parser(
        "notebook", help="the exploration notebook in a local Jupyter wired to the local AWS"
    )
    note.add_argument("--dir", help="home folder (default: notebook-home/ in the project)")
    note.add_argument("--host", default="127.0.0.1")
    note.add_argument("--port", type=int, default=8888, help="0: a free port")
    note.add_argument(
        "--real-aws", action="store_true", help="use the AWS account of the environment"
    )
    note.set_defaults(func=cmd_notebook)

    app = sub.add_parser("app", help="the web app: actual beside predicted usage")
    app.add_argument("--host", default="127.0.0.1")
    app.add_argument("--port", type=int, default=8000, help="0: a free port (printed)")
    app.set_defaults(func=cmd_app)

    demo = sub.add_parser("demo", help="local AWS + sample data + whole graph + endpoint + UI")
    demo.add_argument("--no-ui", action="store_true", help="exit after the summary")
    demo.add_argument(
        "--meters", type=int, default=12, help="generated data: meters (default %(default)s)"
    )
    demo.add_argument(
        "--days", type=int, default=730, help="generated data: days each (default %(default)s)"
    )
    demo.add_argument("--csv", help="seed from this CSV instead of generated data")
    demo.add_argument(
        "--covariates",
        help="columns used beside usage, comma-separated (default: temperature for generated "
        "data, ENERGY_ASSETS_COVARIATES for a CSV)",
    )
    demo.add_argument(
        "--country",
        help="where the meters are, for public holidays (default: US for generated data; "
        "none for a CSV unless ENERGY_ASSETS_COUNTRY is set)",
    )
    demo.add_argument("--subdiv", help="the state or region within --country (e.g. VIC)")
    demo.add_argument(
        "--ui-port", type=int, default=3000, help="the Dagster UI's port (default %(default)s)"
    )
    demo.add_argument(
        "--app-port", type=int, default=8000, help="the app's port (default %(default)s)"
    )
    demo.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("LOCAL_AWS_PORT", 4566)),
        help="the local AWS's port (default LOCAL_AWS_PORT or %(default)s)",
    )
    demo.add_argument(
        "--runtime-port",
        type=int,
        default=int(os.environ.get("LOCAL_AWS_RUNTIME_PORT", 4567)),
        help="the local SageMaker runtime's port (default LOCAL_AWS_RUNTIME_PORT or %(default)s)",
    )
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser(
        "simulate",
        help="replay new days one by one with a level shift: sensors, drift, retraining",
    )
    sim.add_argument("--days", type=int, default=90, help="days replayed one by one")
    sim.add_argument("--history-days", type=int, default=300, help="days before the replay")
    sim.add_argument(
        "--meters",
        type=int,
        default=10,
        help="meters (the global model needs several to learn from; 3 overfit it)",
    )
    sim.add_argument("--shift", type=float, default=0.5, help="added share of mean usage")
    sim.add_argument("--seed", type=int, default=3)
    sim.add_argument("--aws-port", type=int, default=0, help="local AWS port (0: a free one)")
    sim.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a command; its expected failures are one line on stderr and a non-zero exit."""
    from energy_assets.errors import CommandError

    args = parser().parse_args(argv)
    try:
        Settings()  # a bad setting is one line here, not a traceback from deep in a command
    except ValueError as error:
        print(f"energy-assets: {error}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except CommandError as error:
        print(f"energy-assets {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"energy-assets {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(error, (BotoCoreError, ClientError)):
            raise
        print(f"energy-assets {args.command}: AWS: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
