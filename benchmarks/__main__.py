"""`python -m benchmarks` (what `make bench` runs) and `python -m benchmarks generate`.

    python -m benchmarks [--orgs N] [--seed S] [--batch-size B] [--database NAME] [--reload]
    python -m benchmarks generate [--orgs N] [--seed S] --out DIR
    python -m benchmarks nightly-run --limit N --day D   (internal: one process of the nightly memory figure)

The benchmark needs PostgreSQL (DATABASE_URL): it uses a dedicated
database on the same server (`pc_bench_<orgs>` unless `--database` says
otherwise), created and migrated when missing, loads the generated data
when that database does not hold this size and seed yet, then prints every
figure beside its floor, measured in the same run on the same data:
evaluation (engine against a set-based SQL floor), the nightly run (peak
memory at two sizes; one and two Celery workers), the pages (queries, load
against a trivial view, re-association latency) and import (against a plain
JSON parse). Servers it starts (gunicorn, Celery workers) listen on loopback
only and log under var/bench/logs/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import secrets
import sys
import time
import warnings
from pathlib import Path

from . import generate

DATA_VERSION = generate.FORMAT_VERSION


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=generate.DEFAULT_ORGS, help="organizations (default 10,000)")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--batch-size", type=int, default=None, help="organizations per evaluation batch "
                        "(default: EVALUATION_BATCH_SIZE)")
    parser.add_argument("--database", default=None, help="benchmark database name (default pc_bench_<orgs>; "
                        "the import figure's is then NAME_import, else pc_bench_import_<orgs>)")
    parser.add_argument("--reload", action="store_true", help="load the data again even if already there")
    parser.add_argument("--only", default="evaluation,nightly,pages,forecast,whatif,import",
                        help="comma-separated parts to run (default: evaluation,nightly,pages,forecast,whatif,"
                        "import; nightly is night, memory and workers)")
    parser.add_argument("--import-orgs", type=int, default=None, help="organizations of the import figure "
                        "(default: --orgs up to 10,000, the importer holds a file in memory; 0 skips it)")
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate", help="write catalog.yaml and activity.jsonl (docs/interfaces.md formats)")
    gen.add_argument("--orgs", type=int, default=generate.DEFAULT_ORGS)
    gen.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    gen.add_argument("--out", type=Path, required=True)
    run = sub.add_parser("nightly-run", help="internal: the nightly steps for the first N organizations")
    run.add_argument("--limit", type=int, required=True)
    run.add_argument("--day", type=datetime.date.fromisoformat, required=True)
    return parser


def _generate(args) -> int:
    started = time.perf_counter()
    counts = generate.write_files(out=args.out, orgs=args.orgs, seed=args.seed)
    total = sum(counts.values())
    print(f"{args.out}/catalog.yaml, {args.out}/activity.jsonl: {total:,} records "
          f"({', '.join(f'{n:,} {t}' for t, n in counts.items())}) in {time.perf_counter() - started:.1f} s")
    return 0


def _setup() -> None:
    """Set Django up; refuse anything but PostgreSQL."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnercenter.settings.local")
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory: not what production does
    # The servers the benchmark starts run production's settings, which refuse a development key; they
    # share this process's key (over 50 characters, as production asks) so the sessions made here sign them in.
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(48))
    # WhiteNoise warns that STATIC_ROOT is missing when the test client builds the middleware: no
    # collectstatic is needed here (the servers serve from the apps' static folders).
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise SystemExit(
            "make bench needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/name "
            f"(the configured database is {engine.rsplit('.', 1)[-1]})"
        )


def use_database(name: str) -> None:
    """Point Django at database `name` on the configured server, created and migrated when missing."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if not name.startswith("pc_bench"):
        raise SystemExit(f"benchmark databases are named pc_bench…, not {name}: they are emptied at will")
    connection.close()
    with connection._nodb_cursor() as cursor:  # Django's own way to reach the server without a database
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name
    call_command("migrate", verbosity=0, interactive=False)


def _machine() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({cpu or platform.machine()}), {mem:.0f} GiB, PostgreSQL {pg}, "
            f"Python {platform.python_version()}")


def _bench(args) -> int:
    _setup()
    from django.conf import settings

    from . import evaluation_bench, forecast_bench, import_bench, load, nightly_bench, pages_bench, what_if_bench

    name = args.database or f"pc_bench_{args.orgs}"
    use_database(name)
    print(f"benchmark database {name}: {_machine()}")
    wanted = (args.orgs, args.seed, DATA_VERSION)
    if args.reload or load.loaded_dataset() != wanted:
        print(f"loading {args.orgs:,} organizations (seed {args.seed}) with COPY…")
        started = time.perf_counter()
        counts = load.load(orgs=args.orgs, seed=args.seed, version=DATA_VERSION)
        print(f"  loaded in {time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
    else:
        print(f"data set of {args.orgs:,} organizations (seed {args.seed}) already loaded")
    parts = {part for part in args.only.split(",") if part}  # --only "": load the data set, measure nothing
    if "nightly" in parts:
        parts |= {"night", "memory", "workers"}
    if unknown := parts - {"evaluation", "nightly", "night", "memory", "workers", "pages", "forecast", "whatif", "import"}:
        raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}")
    if parts & {"workers", "pages"} and not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise SystemExit("make bench needs Redis for the Celery figures: set CELERY_BROKER_URL=redis://host:6379/N")
    settings.EVALUATION_BATCH_SIZE = args.batch_size or settings.EVALUATION_BATCH_SIZE
    log_dir = Path(settings.VAR_DIR) / "bench" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"load average {_load_average()} (the machine is shared: figures are best of a few runs where noted)")
    if "evaluation" in parts:
        print()
        evaluation_bench.run(day=generate.DAY, batch_size=settings.EVALUATION_BATCH_SIZE)
    # Each night takes the next day after the latest evaluation (the evaluation figure stores statuses as of
    # DAY and the day after), so that each is a night after the one before and no organization is newer.
    from django.db.models import Max

    from competencies.models import Organization

    latest = Organization.objects.aggregate(latest=Max("statuses_as_of"))["latest"] or generate.DAY
    first = max(generate.DAY + datetime.timedelta(days=2), latest + datetime.timedelta(days=1))
    if "night" in parts:
        print()
        first = nightly_bench.run_nights(day=first)["next_day"]
    if parts & {"memory", "workers"}:
        print()
        nightly_bench.run(day=first, log_dir=log_dir, memory="memory" in parts, workers="workers" in parts)
    if "pages" in parts:
        print()
        pages_bench.run(log_dir=log_dir)
    if "forecast" in parts:
        print()
        forecast_bench.run(day=generate.DAY)
    if "whatif" in parts:
        print()
        what_if_bench.run()
    import_orgs = min(args.orgs, 10_000) if args.import_orgs is None else args.import_orgs
    if import_orgs and "import" in parts:
        print()
        loaded = import_bench.levels_by_name(generate.DAY) if import_orgs == args.orgs else None
        import_bench.run(orgs=import_orgs, seed=args.seed, use_database=use_database, loaded_levels=loaded,
                         database=f"{args.database}_import" if args.database else None)
    print()
    print(f"peak RSS of the whole run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB; "
          f"load average {_load_average()}")
    return 0


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _nightly_run(args) -> int:
    """One process of the nightly memory figure: Django set up from the environment the parent gave."""
    import django

    django.setup()
    from . import nightly_bench

    print(nightly_bench.RESULT + json.dumps(nightly_bench.run_subset(limit=args.limit, day=args.day)))
    return 0


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # each figure shows as soon as it is measured
    args = _parser().parse_args(argv)
    if args.command == "generate":
        return _generate(args)
    if args.command == "nightly-run":
        return _nightly_run(args)
    return _bench(args)


if __name__ == "__main__":
    sys.exit(main())
