"""The identity suite: randomised 1280×720 clips with ground truth (tests/suite_clips.py) through the
bridge's face stage on the CPU demo profile and through its peers on the same detections.

    .venv/bin/python benchmarks/identity_suite.py            # 12 kinds × 4 seeds = 48 clips
    .venv/bin/python benchmarks/identity_suite.py --quick    # 12 kinds × 1 seed
    .venv/bin/python benchmarks/identity_suite.py --clips beside-0,small-2 --methods ours
    .venv/bin/python benchmarks/identity_suite.py --quick --pool holdout   # the same clips, people never tuned on

Prints one line per clip and method, then the summary table against the issue's goals. Writes
benchmarks/results/identity_suite.json (every clip), and with --publish the committed table
(benchmarks/identity_suite.md + .json) and chart (benchmarks/identity_suite.png).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import identity_eval as ev  # noqa: E402
from tests import suite_clips  # noqa: E402

METHODS = ("ours",) + ev.PEERS
LABELS = {"ours": "facebridge", "before": "facebridge before (--baseline)", "bytetrack": "ByteTrack", "ocsort": "OC-SORT", "botsort": "BoT-SORT",
          "per_frame": "per-frame matching (DLC)", "iou_baseline": "IoU baseline"}

GOALS = {  # the goals, checked on the summary of "ours"
    "median IDF1 ≥ 0.97": lambda s: s["idf1_median"] >= 0.97,
    "every clip IDF1 ≥ 0.93": lambda s: s["idf1_min"] >= 0.93,
    "≤ 1 ID switch per clip": lambda s: s["id_switches_max"] <= 1,
    "leak ≤ 0.5 % overall": lambda s: s["leak_rate"] <= 0.005,
    "leak ≤ 1 % every clip": lambda s: s["leak_rate_max"] <= 0.01,
    "ghost ≤ 0.5 %": lambda s: s["ghost_rate"] <= 0.005,
    "new face swapped within 3 frames (p95)": lambda s: s["first_swap_p95"] <= 3,
    "≥ 98 % of re-entries keep their id": lambda s: s["reentry_kept"] >= 0.98,
}


def evaluate_clip(kit: ev.Kit, judge: ev.LeakJudge, scene: suite_clips.Scene, methods: tuple[str, ...],
                  reuse: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One clip through each method; the peers in `reuse` are skipped (taken from --baseline)."""
    started = time.perf_counter()
    clip = suite_clips.render(scene)
    entry: dict[str, Any] = {"clip": scene.name, "kind": scene.kind, "frames": len(clip),
                             "people": len({t.id for f in clip.truth for t in f}),
                             "scored_faces": sum(len(suite_clips.scored(clip, i)) for i in range(len(clip))),
                             "empty_frames": sum(1 for i in range(len(clip)) if not suite_clips.scored(clip, i)),
                             "methods": {}}
    if "ours" in methods:
        run = ev.run_ours(kit, clip, judge)
        sims = run.extra.pop("similarities")
        slots = ev.slot_stability(clip, run)
        run.extra.pop("slots")
        result = ev.score(clip, run) | slots
        # the same run judged by boxes, as the peers are: tells pixel leaks from missing tracks
        result["leak_rate_box"] = ev.score(clip, ev.MethodRun("ours", run.drawn))["leak_rate"]
        result["judged_similarity_p50"] = round(float(np.median(sims)), 3) if sims else None
        entry["methods"]["ours"] = result
    peers = tuple(m for m in methods if m != "ours" and m not in reuse)
    if peers:
        detections, ms = ev.detect_clip(kit, clip)
        entry["detect_landmark_ms_per_frame"] = round(ms, 2)
        for run in ev.run_peers(kit, clip, detections, peers):
            entry["methods"][run.name] = ev.score(clip, run)
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


def summarise(entries: list[dict[str, Any]], method: str) -> dict[str, Any]:
    rows = [e["methods"][method] for e in entries if method in e["methods"]]
    if not rows:
        return {}
    faces = sum(r["faces"] for r in rows)
    first = [d for r in rows for d in r["first_swap_frames"]]
    back = [d for r in rows for d in r["return_swap_frames"]]
    reentries = sum(r["reentries"] for r in rows)
    idf1 = [r["idf1"] for r in rows]
    return {
        "clips": len(rows),
        "idf1_median": round(float(np.median(idf1)), 4),
        "idf1_min": round(float(np.min(idf1)), 4),
        "id_switches_total": sum(r["id_switches"] for r in rows),
        "id_switches_max": max(r["id_switches"] for r in rows),
        "mota_median": round(float(np.median([r["mota"] for r in rows])), 4),
        "leak_rate": round(sum(r["leaks"] for r in rows) / faces, 5) if faces else 0.0,
        "leak_rate_max": round(max(r["leak_rate"] for r in rows), 5),
        "ghost_rate": round(sum(r["ghosts"] for r in rows) / faces, 5) if faces else 0.0,
        "first_swap_p95": float(np.percentile(first, 95)) if first else 0.0,
        "return_swap_p95": float(np.percentile(back, 95)) if back else 0.0,
        "reentries": reentries,
        "reentry_kept": round(sum(r["reentries_kept"] for r in rows) / reentries, 4) if reentries else 1.0,
        "ms_per_frame": round(float(np.mean([r["ms_per_frame"] for r in rows])), 2),
    }


def goals(summary: dict[str, Any], peers: dict[str, dict[str, Any]]) -> dict[str, bool]:
    out = {name: bool(check(summary)) for name, check in GOALS.items()} if summary else {}
    rivals = [p for p in peers.values() if p]
    if summary and rivals:
        out["ahead of every peer on IDF1 (median)"] = all(summary["idf1_median"] > p["idf1_median"] for p in rivals)
        out["ahead of every peer on leaks"] = all(summary["leak_rate"] < p["leak_rate"] for p in rivals)
        out["ahead of every peer on ghosts"] = all(summary["ghost_rate"] <= p["ghost_rate"] for p in rivals)
    return out


def markdown(report: dict[str, Any]) -> str:
    cols = [("clips", "clips", "{}"), ("IDF1 median", "idf1_median", "{:.3f}"), ("IDF1 min", "idf1_min", "{:.3f}"),
            ("ID sw. total", "id_switches_total", "{}"), ("ID sw. max/clip", "id_switches_max", "{}"),
            ("MOTA median", "mota_median", "{:.3f}"), ("leak %", "leak_rate", "{:.2%}"),
            ("leak % worst clip", "leak_rate_max", "{:.2%}"), ("ghost %", "ghost_rate", "{:.2%}"),
            ("first swap p95 (frames)", "first_swap_p95", "{:.0f}"), ("re-entry swap p95", "return_swap_p95", "{:.0f}"),
            ("re-entries kept", "reentry_kept", "{:.1%}")]
    lines = [f"# Identity suite: {len(report['clips'])} clips, 1280×720 at 30 fps",
             "",
             f"Generated by `benchmarks/identity_suite.py` ({report['command']}), {report['date']}, on "
             f"{report['machine']} (a busy shared 2-core machine: the ms columns are indicative).",
             f"facebridge runs the CPU demo profile ({report['profile']}, detect_every {report['detect_every']}), "
             "every face mapped to one target; its leaks are judged in the output pixels by the recogniser. "
             "The peers get the same detector and landmarker run on every frame; a face no drawn box covers is a "
             "leak. Ghosts: drawn swaps with IoU < 0.3 to every face in the picture, per scored face-frame.",
             *([f"People: the {report['pool']} pool (tests/suite_clips.py POOLS; docs/identity_suite.md)."]
               if report.get("pool", "train") != "train" else []),
             f"facebridge is commit {report.get('bridge', 'unknown')}"
             + (f"; 'before' is commit {report['before_bridge']}." if report.get("before_bridge") else "."),
             "",
             "| method | " + " | ".join(c[0] for c in cols) + " |",
             "| --- | " + " | ".join("---:" for _ in cols) + " |"]
    for method, s in report["summary"].items():
        if s:
            lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(f.format(s[k]) for _, k, f in cols) + " |")
    lines += ["", "Goals (facebridge):", ""]
    lines += [f"- {'✅' if ok else '❌'} {name}" for name, ok in report["goals"].items()]
    lines += ["", "## Per clip (facebridge)", "",
              "Leak % (pixels) is the recogniser's judgement of the output; leak % (boxes) counts the scored faces no "
              "drawn swap covers, as for the peers. Best peer: the highest IDF1 among the peers on that clip.", "",
              "| clip | frames | people | IDF1 | ID sw. | MOTA | leak % (pixels) | leak % (boxes) | ghost % | first swap (frames) "
              "| re-entries kept | IDF1 before | leak % before | best peer IDF1 |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for e in report["clips"]:
        r = e["methods"].get("ours")
        if r:
            b = e["methods"].get("before")
            peers = [e["methods"][m]["idf1"] for m in ev.PEERS if m in e["methods"]]
            lines.append(f"| {e['clip']} | {e['frames']} | {e['people']} | {r['idf1']:.3f} | {r['id_switches']} | {r['mota']:.3f} | "
                         f"{r['leak_rate']:.2%} | {r.get('leak_rate_box', 0):.2%} | {r['ghost_rate']:.2%} | "
                         f"{','.join(map(str, r['first_swap_frames']))} | {r['reentries_kept']}/{r['reentries']} | "
                         f"{_fmt(b and b['idf1'], '{:.3f}')} | {_fmt(b and b['leak_rate'], '{:.2%}')} | "
                         f"{_fmt(max(peers) if peers else None, '{:.3f}')} |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, form: str) -> str:
    return "–" if value is None else form.format(value)


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m, s in report["summary"].items() if s]
    kinds = list(dict.fromkeys(e["kind"] for e in report["clips"]))
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    colours = {m: c for m, c in zip(("ours", "before") + ev.PEERS,
                                    ["#d62728", "#f4a3a3", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#7f7f7f"])}
    width = 0.8 / max(1, len(methods))
    for ax, (key, title, pct) in zip(axes.flat[:3], [("idf1", "IDF1 by kind of clip (mean)", False),
                                                      ("leak_rate", "leak rate by kind (face-frames showing the real face)", True),
                                                      ("ghost_rate", "ghost rate by kind (swaps drawn where no face is)", True)]):
        for k, m in enumerate(methods):
            vals = [np.mean([e["methods"][m][key] for e in report["clips"] if e["kind"] == kind and m in e["methods"]] or [0])
                    for kind in kinds]
            ax.bar(np.arange(len(kinds)) + k * width, np.array(vals) * (100 if pct else 1), width,
                   label=LABELS.get(m, m), color=colours.get(m))
        ax.set_xticks(np.arange(len(kinds)) + 0.4 - width / 2, kinds, rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("%" if pct else "IDF1")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylim(0, 1.05)
    axes[0, 0].axhline(0.97, color="k", lw=0.8, ls="--")
    axes[0, 1].axhline(0.5, color="k", lw=0.8, ls="--")
    axes[1, 0].axhline(0.5, color="k", lw=0.8, ls="--")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(methods), fontsize=9, bbox_to_anchor=(0.5, 0.955), frameon=False)
    ax = axes[1, 1]
    for m in methods:
        s = report["summary"][m]
        ax.scatter(s["leak_rate"] * 100, s["idf1_median"], s=60 + 2000 * s["ghost_rate"], color=colours.get(m),
                   label=LABELS.get(m, m), edgecolor="k")
        ax.annotate(LABELS.get(m, m), (s["leak_rate"] * 100, s["idf1_median"]), fontsize=8, xytext=(5, 5), textcoords="offset points")
    ax.set_xlabel("leak rate, % of face-frames (all clips)")
    ax.set_ylabel("median IDF1")
    ax.set_title("overall: up and left is better (marker size: ghost rate)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.suptitle(f"Identity suite: {len(report['clips'])} randomised 1280×720 clips, CPU demo profile", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def parse_every(text: str) -> int | str | None:
    if text == "profile":
        return None
    return text if text == "auto" else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed per kind (12 clips) instead of --seeds")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per kind (default 4: 48 clips)")
    parser.add_argument("--kinds", default="", help=f"comma-separated kinds (default all: {','.join(suite_clips.KINDS)})")
    parser.add_argument("--clips", default="", help="comma-separated clip names KIND-SEED, e.g. beside-0,small-3")
    parser.add_argument("--pool", default="train", choices=list(suite_clips.POOLS),
                        help="whose faces: train (the 8 people the bridge is tuned on) or holdout (22 others, the same "
                             "kinds, seeds and paths; clips are named KIND-SEED@holdout)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {','.join(METHODS)}")
    parser.add_argument("--profile", type=Path, default=ev.DEMO_PROFILE)
    parser.add_argument("--detect-every", default="2", type=parse_every,
                        help="override analysis.detect_every: N, auto, or 'profile' (default 2: what auto settles at for "
                             "this CPU at 720p, fixed so runs are comparable)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "identity_suite.json")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="an earlier run's JSON (e.g. of the bridge before a change) on the same clips: its 'ours' "
                             "becomes the row 'before', and the methods not run now are taken from it")
    parser.add_argument("--publish", action="store_true",
                        help="also write benchmarks/identity_suite.md/.json and benchmarks/identity_suite.png")
    parser.add_argument("--jobs", type=int, default=1, help="clips evaluated in parallel processes (default 1)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="run nothing: rebuild the summary (and with --publish the table and chart) from a results JSON")
    args = parser.parse_args(argv)
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        return finish(report, report["clips"], tuple(report["summary"]), args)

    methods = tuple(m for m in args.methods.split(",") if m)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    try:
        if args.clips:
            scenes = [suite_clips.named(name, pool=args.pool) for name in args.clips.split(",") if name]
        else:
            kinds = [k for k in args.kinds.split(",") if k] or None
            scenes = suite_clips.suite(1 if args.quick else args.seeds, kinds, args.pool)
    except ValueError as error:
        parser.error(str(error))
    earlier = {e["clip"]: e["methods"] for e in json.loads(args.baseline.read_text())["clips"]} if args.baseline else {}
    jobs = [(scene, methods, frozenset(m for m in earlier.get(scene.name, {}) if m in ev.PEERS)) for scene in scenes]
    started = time.perf_counter()
    entries = []
    with ProcessPoolExecutor(args.jobs, initializer=_worker_start, initargs=(args.profile, args.detect_every)) as pool:
        for entry in pool.map(_worker_clip, jobs):
            entries.append(entry)
            _print_entry(entry)
    entries.sort(key=lambda e: [s.name for s in scenes].index(e["clip"]))
    detect_every = entries[0]["methods"].get("ours", {}).get("detect_every", args.detect_every) if entries else args.detect_every
    report = {
        "command": "identity_suite.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.machine()} {platform.system()}",
        "profile": str(Path(args.profile).resolve().relative_to(REPO)) if Path(args.profile).resolve().is_relative_to(REPO) else str(args.profile),
        "detect_every": detect_every, "seconds": round(time.perf_counter() - started, 1), "bridge": _commit(),
        "pool": args.pool,
    }
    if args.baseline:
        report["before_bridge"] = json.loads(args.baseline.read_text()).get("bridge", "unknown")
    return finish(report, entries, methods, args)


_WORKER: dict[str, Any] = {}  # each worker process's models, loaded once by _worker_start


def _worker_start(profile: Path, detect_every: int | str | None) -> None:
    kit = ev.load_kit(profile, detect_every)
    _WORKER.update(kit=kit, judge=ev.LeakJudge(kit.recogniser))


def _worker_clip(job: tuple[suite_clips.Scene, tuple[str, ...], frozenset[str]]) -> dict[str, Any]:
    scene, methods, reuse = job
    return evaluate_clip(_WORKER["kit"], _WORKER["judge"], scene, methods, reuse)


def _print_entry(entry: dict[str, Any]) -> None:
    for m, r in entry["methods"].items():
        print(f"{entry['clip']:18s} {m:13s} IDF1 {r['idf1']:.3f} IDsw {r['id_switches']:2d} MOTA {r['mota']:6.3f} "
              f"leak {r['leak_rate']:6.2%} ghost {r['ghost_rate']:6.2%} first-swap {r['first_swap_frames']} "
              f"re-entries kept {r['reentries_kept']}/{r['reentries']}", flush=True)


def finish(report: dict[str, Any], entries: list[dict[str, Any]], methods: tuple[str, ...], args: argparse.Namespace) -> int:
    """Summary, goals, printed table; the results JSON; with --publish the committed table and chart."""
    if args.baseline:
        entries = merge_baseline(entries, json.loads(args.baseline.read_text()))
        methods = tuple(dict.fromkeys(["ours", "before", *methods, *METHODS]))
    summary = {m: summarise(entries, m) for m in methods}
    summary = {m: v for m, v in summary.items() if v}
    report = {**report, "summary": summary,
              "goals": goals(summary.get("ours", {}), {m: s for m, s in summary.items() if m in ev.PEERS}),
              "clips": entries}
    print()
    print(markdown(report).split("\n## Per clip")[0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out} ({report['seconds']} s)")
    if args.publish:
        (REPO / "benchmarks" / "identity_suite.md").write_text(markdown(report))
        (REPO / "benchmarks" / "identity_suite.json").write_text(json.dumps(report, indent=1))
        chart(report, REPO / "benchmarks" / "identity_suite.png")
        print("wrote benchmarks/identity_suite.md, benchmarks/identity_suite.json, benchmarks/identity_suite.png")
    return 0


def merge_baseline(entries: list[dict[str, Any]], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Each clip's results with the earlier run's: its 'ours' as 'before', its peers where not run now."""
    earlier = {e["clip"]: e for e in baseline["clips"]}
    for e in entries:  # a clip the earlier run lacks has no 'before' (the table's clips column says how many)
        old = earlier.get(e["clip"], {}).get("methods", {})
        if "ours" in old:
            e["methods"]["before"] = old["ours"]
        for m, r in old.items():
            if m != "ours":
                e["methods"].setdefault(m, r)
    return entries


def _commit() -> str:
    """The checked-out commit whose bridge/ was measured (+ '-dirty' when bridge/ has changes)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "bridge"], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")




if __name__ == "__main__":
    raise SystemExit(main())
