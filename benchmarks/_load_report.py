"""The Markdown of ``http_load.py``'s results: peak QPS per configuration, issue 19's goals, and
every rate of every ramp (what ``docs/deploy.md``'s capacity plan reads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TEXT_P50_MS, TEXT_P99_MS, PHOTO_P50_MS = 30.0, 100.0, 40.0  # issue 19's goals


def _rank(c: Mapping[str, Any]) -> str:
    return "on (default)" if c["rank"] else "off"


def _load(c: Mapping[str, Any]) -> str:
    return f"{c['load_before'][0]:.1f} → {c['load_after'][0]:.1f}"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:g}"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _others(step: Mapping[str, Any] | None) -> str:
    if step is None or "other_cpu_cores" not in step:
        return "–"
    return f"{step['other_cpu_cores']:g} ({step['niced_cpu_cores']:g})"


def _quiet(m: Mapping[str, Any] | None) -> str:
    if not m:
        return ""
    state = "quiet" if m["quiet"] else "NOT quiet (started anyway)"
    return f" ({state}: {m['busy_cores']:g} cores busy just before, after waiting {m['waited_s']:g} s)"


def _offered(step: Mapping[str, Any] | None) -> str:
    """Arrivals actually scheduled per second (the rate itself since arrivals have an exact count)."""
    if step is None or not step.get("seconds"):
        return "–"
    return f"{step['sent'] / step['seconds']:.1f}"


def _at(c: Mapping[str, Any], rate: float | None) -> Mapping[str, Any] | None:
    return next((s for s in c.get("steps", []) if s["rate"] == rate), None)


def markdown(results: Mapping[str, Any]) -> list[str]:
    s = results["settings"]
    pool, texts = results["pool"], results["texts"]
    configs: Sequence[Mapping[str, Any]] = results["configs"]
    lines = [
        f"# HTTP load: open-loop arrival rates over distinct queries ({results['products']:,} products)",
        "",
        "The service (`shopsearch.service.run`, uvicorn, default settings; ranking off = `Settings(rank=False)`, "
        "as `shopsearch serve --no-rank`) on 127.0.0.1 in its own process; the load client "
        "(`benchmarks/_load_client.py`, asyncio + raw HTTP/1.1, "
        f"{configs[0].get('client_loop', '?') if configs else '?'}) in another process on the same cores "
        "(its CPU is in the tables). Requests: `POST /v1/search` `{\"text\", \"k\": "
        f"{s['k']}}}`, no user or session. Open loop: Poisson arrivals for {s['duration']:g} s per rate "
        f"(at low rates long enough for {s.get('min_requests', 0)} requests), latency "
        f"from each request's scheduled time (queueing counts), timeout {s['timeout']:g} s = error. A rate "
        f"*holds* with p99 <= {s['p99_ms']:g} ms and no errors.",
        "",
        f"Queries: a seeded pool of {pool['queries']:,} distinct texts (`benchmarks/_load_pool.py`: "
        f"{pool['benchmark']:,} hand-written benchmark queries + {pool['generated']:,} generated shopper queries; "
        f"{pool['en']:,} English, "
        f"{pool['zh']:,} Chinese), walked in order over the whole run: {texts['sent_distinct']:,} texts sent, "
        f"**{texts['repeats']} repeats**; {texts['parse_collisions_skipped']:,} texts skipped because their parsed "
        "form (the service's query-vector cache key) had been sent already, so every text request misses "
        "the cache (except the cached baseline, by design)." + (f" {results['note']}" if results.get("note") else ""),
        "",
        f"## Peak QPS at p99 <= {s['p99_ms']:g} ms",
        "",
        "Arrivals sent /s: what a rate actually offered (requests scheduled / seconds).",
        "",
        "| workers | ranking | peak QPS (rate held) | arrivals sent /s there | achieved QPS there "
        "| p50 / p99 ms there | first rate over (arrivals sent /s) | p99 ms there | client CPU % of a core at peak "
        "| server CPU cores at peak | other jobs' CPU cores at peak (of which niced) | load (1 min) |",
        "|---:|---|---:|---:|---:|---|---|---:|---:|---:|---|---|",
    ]
    for c in configs:
        pk, over = _at(c, c.get("peak_qps")), _at(c, c.get("first_over_qps"))
        there = f"{_ms(pk['p50_ms'])} / {_ms(pk['p99_ms'])}" if pk else "–"
        lines.append(
            f"| {c['workers']} | {_rank(c)} | **{_ms(c.get('peak_qps'))}** | {_offered(pk)} | "
            f"{pk['throughput_qps'] if pk else '–'} | {there} | {_ms(c.get('first_over_qps'))} ({_offered(over)}) | "
            f"{_ms(over['p99_ms']) if over else '–'} | {pk['client_cpu_pct'] if pk else '–'} | "
            f"{pk['server_cpu_cores'] if pk else '–'} | {_others(pk)} | {_load(c)} |")
    lines += [
        "",
        f"## Issue 19's goals: text at {s['clients']} concurrent clients (closed loop), photos one at a time",
        "",
        f"Text: {s['closed_requests']} distinct uncached queries per configuration. Cached baseline: the same "
        "loop over `http_latency.py`'s 18 fixed texts (cache hits). Photos: catalogue photos uploaded as "
        f"multipart, one at a time ({results['photos']} per configuration). Goals: text p50 <= {TEXT_P50_MS:g} ms "
        f"and p99 <= {TEXT_P99_MS:g} ms, photo p50 <= {PHOTO_P50_MS:g} ms (service defaults: ranking on).",
        "",
        "| workers | ranking | text p50 ms | text p99 ms | text QPS | errors | cached p50 / p99 ms | cached QPS "
        "| photo p50 / p99 ms | text goal | photo goal |",
        "|---:|---|---:|---:|---:|---:|---|---:|---|---|---|",
    ]
    for c in configs:
        t, b, p = c["closed"], c["cached"], c["photos"]
        text_ok = t["errors"] == 0 and t["p50_ms"] <= TEXT_P50_MS and t["p99_ms"] <= TEXT_P99_MS
        lines.append(
            f"| {c['workers']} | {_rank(c)} | {_ms(t['p50_ms'])} | {_ms(t['p99_ms'])} | {t['throughput_qps']} | "
            f"{t['errors'] + b['errors'] + p['errors']} | {_ms(b['p50_ms'])} / {_ms(b['p99_ms'])} | "
            f"{b['throughput_qps']} | {_ms(p['p50_ms'])} / {_ms(p['p99_ms'])} | {_met(text_ok)} | "
            f"{_met(p['errors'] == 0 and p['p50_ms'] <= PHOTO_P50_MS)} |")
    lines += [
        "",
        "## Every rate",
        "",
        "Send lag: how late the client sent a request against its schedule (the client keeping up); it is "
        "inside the latency, never subtracted. Other jobs: CPU cores the rest of the machine used during the "
        "rate (in brackets: of which niced; with the kernel's autogroup scheduling, as on this machine, a "
        "niced job in another session still takes its share against the server). Stale: requests sent "
        "again because the server had just closed their idle keep-alive connection (as browsers do).",
        "",
        "| workers | ranking | rate /s | sent (/s) | ok | errors | p50 ms | p95 ms | p99 ms | max ms | achieved QPS "
        "| client CPU % | server CPU cores | other jobs (niced) | send lag p99 ms | connections (stale) | holds |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for c in configs:
        for st in sorted(c.get("steps", []), key=lambda x: x["rate"]):
            kinds = ", ".join(f"{k}: {v}" for k, v in st["error_kinds"].items())
            lines.append(
                f"| {c['workers']} | {_rank(c)} | {st['rate']:g} | {st['sent']} ({_offered(st)}) | {st['ok']} | "
                f"{st['errors']}"
                f"{f' ({kinds})' if kinds else ''} | {_ms(st['p50_ms'])} | {_ms(st['p95_ms'])} | {_ms(st['p99_ms'])} | "
                f"{_ms(st['max_ms'])} | {st['throughput_qps']} | {st['client_cpu_pct']} | {st['server_cpu_cores']} | "
                f"{_others(st)} | {_ms(st['lag_p99_ms'])} | {st['connections']} ({st.get('stale_retries', 0)}) | "
                f"{'yes' if st['holds'] else 'no'} |")
    redone = [(c, d) for c in configs for d in c.get("disturbed_steps", [])]
    if redone:
        lines += ["", "Rates run again because other jobs took CPU during the first try "
                  "(first try shown here; the table above has the second): " + "; ".join(
                      f"{c['workers']} worker(s), ranking {'on' if c['rank'] else 'off'}, {d['rate']:g}/s: p99 "
                      f"{_ms(d['p99_ms'])} ms, {d['errors']} errors, other jobs {d['other_cpu_cores']:g} cores"
                      for c, d in redone) + "."]
    lines += ["", "Per configuration: " + "; ".join(
        f"{c['workers']} worker(s), ranking {'on' if c['rank'] else 'off'}: started {c['started']}"
        f"{_quiet(c.get('machine_before'))}, server ready in {c['startup_s']} s, {c['texts_sent']:,} texts, "
        f"load {_load(c)}" for c in configs) + "."]
    return lines
