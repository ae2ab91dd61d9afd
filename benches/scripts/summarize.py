#!/usr/bin/env python3
"""Prints medians per case and broker, and Tern/Mosquitto ratios, from compare.sh's JSON lines.

Labels are "broker/case/round". Failed runs are counted and left out of the medians.
"""
import json
import statistics
import sys
from collections import defaultdict

# (column, JSON field, higher is better)
METRICS = {
    "connections": [("bytes/conn", "rss_bytes_per_connection", False)],
    "latency": [("p50 us", "p50_us", False), ("p99 us", "p99_us", False)],
}
THROUGHPUT = [("msg/s", "msgs_per_s", True), ("msg/broker-cpu-s", "deliveries_per_broker_cpu_s", True)]


def main(path):
    runs = defaultdict(list)
    failed = defaultdict(int)
    cases = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            broker, case, _ = (r.get("label", "") + "//").split("/", 2)
            if case not in cases:
                cases.append(case)
            if r.get("ok"):
                runs[(case, broker)].append(r)
            else:
                failed[(case, broker)] += 1
    brokers = [b for b in ("tern", "mosquitto") if any(k[1] == b for k in list(runs) + list(failed))]

    def med(rs, field):
        vals = [r[field] for r in rs if r.get(field) is not None]
        return statistics.median(vals) if vals else None

    def fmt(v):
        if v is None:
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"

    header = f"{'case':<18} {'metric':<28}" + "".join(f"{b:>14}" for b in brokers)
    both = len(brokers) == 2
    if both:
        header += f"{'tern/mosq':>11}"
    header += f"{'tool cpu max':>14}{'runs ok/fail':>14}"
    print(header)
    print("-" * len(header))
    for case in cases:
        scenario = runs.get((case, brokers[0])) or runs.get((case, brokers[-1])) or [{}]
        metrics = METRICS.get(scenario[0].get("scenario"), THROUGHPUT)
        for i, (name, field, higher) in enumerate(metrics):
            vals = [med(runs.get((case, b), []), field) for b in brokers]
            row = f"{case if i == 0 else '':<18} {name + ('' if higher else ' (lower=better)'):<28}"
            row += "".join(f"{fmt(v):>14}" for v in vals)
            if both:
                ratio = vals[0] / vals[1] if vals[0] is not None and vals[1] else None
                row += f"{fmt(ratio) if ratio is not None else '-':>11}"
            if i == 0:
                tool = max((r.get("tool_cpu_fraction") or 0 for b in brokers for r in runs.get((case, b), [])), default=None)
                bound = any(r.get("tool_bound") for b in brokers for r in runs.get((case, b), []))
                ok = sum(len(runs.get((case, b), [])) for b in brokers)
                bad = sum(failed.get((case, b), 0) for b in brokers)
                row += f"{(fmt(tool) + (' BOUND' if bound else '')) if tool is not None else '-':>14}{f'{ok}/{bad}':>14}"
            print(row)


if __name__ == "__main__":
    main(sys.argv[1])
