"""Resolution latency with 10,000 tenants each holding overrides.

Measures, in one run: cold resolutions (first lookup of a tenant: reads its override rows),
cached resolutions, and a plain dict lookup of the same keys as the baseline. Goal: cached p99 ≤ 20 µs.

    python -m benchmarks resolver [--tenants N] [--database-url URL] [--quick] [--json FILE]
"""

from __future__ import annotations

import random
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import insert

import focal  # noqa: F401
from benchmarks._report import Goal, Metric, measured
from benchmarks._runner import Options, cli_parser, main_one
from benchmarks._stats import summary
from focal.routing import ModelResolver, OverrideRepository, PipelineStep, load_routing_config
from focal.storage import TenantModelOverride, make_async_engine, make_sync_engine, upgrade, utcnow

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
STEPS = [s.value for s in PipelineStep]


def _populate(engine, tenants: int) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    rows = []
    for i in range(tenants):
        tenant = f"tenant-{i:05d}"
        rows.append(
            dict(
                tenant_id=tenant,
                agent_id="support",
                step="generation",
                model_ref="openai:capable",
                fallback_chain=["anthropic:capable"],
                created_at=now,
                updated_at=now,
                changed_by="bench",
            )
        )
        rows.append(
            dict(
                tenant_id=tenant,
                agent_id="support",
                step="*",
                model_ref="anthropic:cheap",
                fallback_chain=None,
                created_at=now,
                updated_at=now,
                changed_by="bench",
            )
        )
        if i % 3 == 0:
            rows.append(
                dict(
                    tenant_id=tenant,
                    agent_id="research",
                    step="enforcement",
                    model_ref="openai:capable",
                    fallback_chain=[],
                    created_at=now,
                    updated_at=now,
                    changed_by="bench",
                )
            )
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(TenantModelOverride), rows[start : start + 5000])


def measure(tenants: int = 10_000, database_url: str | None = None, cached_lookups: int = 200_000) -> dict[str, Any]:
    """Run the benchmark and print a report; returns the figures."""
    tmp = tempfile.TemporaryDirectory()
    url = database_url or f"sqlite:///{tmp.name}/bench.db"
    registry, catalogs = load_routing_config(CONFIG_DIR)
    engine = make_sync_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(TenantModelOverride.__table__.delete())
    _populate(engine, tenants)
    repo = OverrideRepository(registry, catalogs, engine=engine, async_engine=make_async_engine(url))
    resolver = ModelResolver(registry, catalogs, repo, ttl_seconds=3600, max_tenants=tenants * 2)

    rng = random.Random(7)
    keys = [(f"tenant-{i:05d}", rng.choice(["support", "research"]), rng.choice(STEPS)) for i in range(tenants)]
    clock = time.perf_counter_ns

    cold = []
    for tenant, agent, step in keys:
        t0 = clock()
        resolver.resolve(tenant, agent, step)
        cold.append(clock() - t0)

    # warm every (tenant, agent, step) once so the cached phase measures hits only
    for tenant, _, _ in keys:
        for agent in ("support", "research"):
            for step in STEPS:
                resolver.resolve(tenant, agent, step)
    lookups = [
        (f"tenant-{rng.randrange(tenants):05d}", rng.choice(["support", "research"]), rng.choice(STEPS))
        for _ in range(cached_lookups)
    ]
    cached = []
    for tenant, agent, step in lookups:
        t0 = clock()
        resolver.resolve(tenant, agent, step)
        cached.append(clock() - t0)

    plain = {(t, a, s): resolver.resolve(t, a, s) for t, a, s in set(lookups)}
    baseline = []
    for key in lookups:
        t0 = clock()
        plain[key]
        baseline.append(clock() - t0)

    result = {
        "database": url.split("://")[0],
        "tenants": tenants,
        "override_rows": tenants * 2 + (tenants + 2) // 3,
        "lookups": cached_lookups,
        "cold": summary(cold),
        "cached": summary(cached),
        "dict_baseline": summary(baseline),
    }
    c, b, k = result["cached"], result["dict_baseline"], result["cold"]
    print(f"resolver  ({result['database']}, {tenants:,} tenants, {result['override_rows']:,} override rows)")
    print(f"  cold    p50 {k['p50_us']:9.1f} µs   p99 {k['p99_us']:9.1f} µs")
    print(
        f"  cached  p50 {c['p50_us']:9.2f} µs   p99 {c['p99_us']:9.2f} µs   (goal: p99 <= 20 µs: "
        f"{'met' if c['p99_us'] <= 20 else 'NOT met'})"
    )
    print(f"  dict    p50 {b['p50_us']:9.2f} µs   p99 {b['p99_us']:9.2f} µs   (baseline)")
    print(
        f"  ratio cached/dict: p50 {c['p50_us'] / b['p50_us']:.2f}x  p99 {c['p99_us'] / b['p99_us']:.2f}x;"
        f"  cold/cached p50 {k['p50_us'] / c['p50_us']:.0f}x"
    )
    engine.dispose()
    tmp.cleanup()
    return result


def metrics(figures: dict[str, Any]) -> list[Metric]:
    """The table's rows from `measure`'s figures."""
    c, b, k = figures["cached"], figures["dict_baseline"], figures["cold"]
    scope = (
        f"ModelResolver.resolve, {figures['database']}, {figures['tenants']:,} tenants with "
        f"{figures['override_rows']:,} override rows, resolver TTL 3,600 s"
    )
    cached = f"{scope}; cached: hits only (every key resolved once before), {figures['lookups']:,} random lookups"
    dict_name = "a plain dict lookup of the same keys, same run"
    row = partial(measured, "resolver", unit="µs", baseline_name=dict_name, includes=cached)
    return [
        row(name="cached p50", focal=c["p50_us"], baseline=b["p50_us"]),
        row(name="cached p99", focal=c["p99_us"], baseline=b["p99_us"], goal=Goal(op="<=", threshold=20)),
        measured(
            "resolver",
            "cold p50",
            unit="µs",
            focal=k["p50_us"],
            includes=f"{scope}; cold: a tenant's first lookup (reads its override rows from the database)",
        ),
    ]


def run(options: Options, *, tenants: int | None = None, database_url: str | None = None) -> list[Metric]:
    """Measure (1,000 tenants and 20,000 lookups with `options.quick`) and return the metrics."""
    if tenants is None:
        tenants = 1_000 if options.quick else 10_000
    return metrics(measure(tenants, database_url, 20_000 if options.quick else 200_000))


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("resolver", __doc__)
    parser.add_argument("--tenants", type=int, default=None, help="default 10,000 (1,000 with --quick)")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    main_one("resolver", lambda options: run(options, tenants=args.tenants, database_url=args.database_url), args)


if __name__ == "__main__":
    main()
