"""The HTML report's timeline as one Vega-Lite spec: throughput, error rate and latency (p50/p95/p99) over time,
sharing one time axis, with each fault's active window shaded and labelled, the abort instants and "recovery
confirmed" marked, and every SLO objective drawn as a line over the phase it was judged in.

The spec is plain JSON (no code), so tests can read it and the page only hands it to ``vegaEmbed``.
"""

from __future__ import annotations

from typing import Any

from chaoskit.report.timeline import ALL, Timeline

WIDTH = 980
HEIGHT = 170
FAULT_COLORS = ["#e45756", "#f58518", "#b279a2", "#9d755d", "#72b7b2", "#eeca3b"]
BASELINE_COLOR = "#4c78a8"
ABORT_COLOR = "#d62728"
RECOVERED_COLOR = "#2ca02c"
METRIC_COLORS = {
    "p50": "#54a24b", "p95": "#f58518", "p99": "#e45756", "requests/s": "#4c78a8", "errors/s": "#e45756",
    "error %": "#e45756",
}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def datasets(timeline: Timeline) -> dict[str, list[dict[str, Any]]]:
    """The named datasets the spec draws from."""
    w = timeline.width
    points = [
        {
            "t": p.t,
            "n": p.name,
            "rps": round(p.count / w, 2),
            "eps": round(p.errors / w, 2),
            "er": round(100 * p.errors / p.count, 3) if p.count else None,
            "p50": _ms(p.p50),
            "p95": _ms(p.p95),
            "p99": _ms(p.p99),
            **({"lim": 1} if p.limited else {}),
        }
        for p in timeline.points
    ]
    bands: list[dict[str, Any]] = []
    for p in timeline.phases:
        if p.name == "baseline":
            bands.append({"x0": p.start, "x1": p.end, "label": "baseline", "kind": "baseline", "color": BASELINE_COLOR})
    marks: list[dict[str, Any]] = []
    for i, ep in enumerate(timeline.episodes):
        color = FAULT_COLORS[i % len(FAULT_COLORS)]
        if ep.injected is not None:
            end = ep.reverted if ep.reverted is not None else timeline.end
            label = ep.fault + (" (aborted)" if ep.abort is not None else "") + (
                "" if ep.reverted is not None else " (NOT REVERTED)")
            bands.append({"x0": round(ep.injected, 3), "x1": round(end, 3), "label": label, "kind": "fault",
                          "color": color})
        if ep.abort is not None:
            marks.append({"x": round(ep.abort, 3), "kind": "abort", "color": ABORT_COLOR,
                          "label": f"abort {ep.fault}", "detail": ep.abort_reason})
        if ep.recovered and ep.recovered_at is not None:
            ttr = f", TTR {ep.ttr:.2f}s" if ep.ttr is not None else ""
            marks.append({"x": round(ep.recovered_at, 3), "kind": "recovered", "color": RECOVERED_COLOR,
                          "label": f"recovery confirmed{ttr}", "detail": ep.fault})
        elif ep.recovered is False:
            x = ep.recover_end if ep.recover_end is not None else timeline.end
            marks.append({"x": round(x, 3), "kind": "no recovery", "color": ABORT_COLOR,
                          "label": f"no recovery after {ep.fault}", "detail": ep.fault})
    lines: list[dict[str, Any]] = []
    last_label: dict[tuple[str, str], str] = {}
    for t in sorted(timeline.thresholds, key=lambda t: t.start):
        # label a line only where its objective changes, so a long run is not covered in repeated labels
        labelled = last_label.get((t.chart, t.slo)) != t.label
        last_label[(t.chart, t.slo)] = t.label
        lines.append({"chart": t.chart, "slo": t.slo, "label": t.label, "x0": round(t.start, 3),
                      "x1": round(t.end, 3), "y": t.value, "labelled": labelled})
    flip_after = 0.85 * timeline.end
    for i, mark in enumerate(sorted(marks, key=lambda m: m["x"])):
        mark["flip"] = mark["x"] > flip_after
        mark["row"] = i % 2  # neighbouring labels on two lines, so an abort and a recovery close together stay legible
    for band in bands:
        band["x0"], band["x1"] = round(band["x0"], 3), round(band["x1"], 3)
    return {"points": points, "bands": bands, "marks": marks, "thresholds": lines}


def _band_layers(labels: bool) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = [{
        "name": "fault_band",
        "data": {"name": "bands"},
        "mark": {"type": "rect", "opacity": 0.13},
        "encoding": {
            "x": {"field": "x0", "type": "quantitative"},
            "x2": {"field": "x1"},
            "color": {"field": "color", "type": "nominal", "scale": None},
            "tooltip": [{"field": "label", "title": "window"}, {"field": "x0", "title": "from (s)"},
                        {"field": "x1", "title": "to (s)"}],
        },
    }]
    if labels:
        layers.append({
            "name": "fault_label",
            "data": {"name": "bands"},
            "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 3, "dy": 3, "fontWeight": "bold",
                     "fontSize": 11},
            "encoding": {"x": {"field": "x0", "type": "quantitative"}, "y": {"value": 0},
                         "text": {"field": "label"}, "color": {"field": "color", "type": "nominal", "scale": None}},
        })
    return layers


def _event_layers(labels: bool) -> list[dict[str, Any]]:
    color = {"field": "color", "type": "nominal", "scale": None}
    layers: list[dict[str, Any]] = [{
        "name": "event_rule",
        "data": {"name": "marks"},
        "mark": {"type": "rule", "strokeWidth": 2, "strokeDash": [6, 3]},
        "encoding": {"x": {"field": "x", "type": "quantitative"}, "color": color,
                     "tooltip": [{"field": "label"}, {"field": "detail"}, {"field": "x", "title": "at (s)"}]},
    }]
    if labels:
        layers.append({
            "name": "event_label",
            "data": {"name": "marks"},
            "mark": {"type": "text", "baseline": "bottom", "fontSize": 11, "dy": {"expr": "datum.row ? -17 : -3"},
                     "align": {"expr": "datum.flip ? 'right' : 'left'"}, "dx": {"expr": "datum.flip ? -3 : 3"}},
            "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"value": HEIGHT},
                         "text": {"field": "label"}, "color": color},
        })
    return layers


def _threshold_layers(chart: str) -> list[dict[str, Any]]:
    only = {"filter": f"datum.chart === '{chart}'"}
    # latency thresholds sit high on a log axis: label them under the line, the others above it
    below = chart == "latency"
    return [
        {
            "name": "slo_threshold",
            "data": {"name": "thresholds"},
            "transform": [only],
            "mark": {"type": "rule", "strokeWidth": 1.5, "strokeDash": [2, 2], "color": "#333"},
            "encoding": {"x": {"field": "x0", "type": "quantitative"}, "x2": {"field": "x1"},
                         "y": {"field": "y", "type": "quantitative"}, "tooltip": [{"field": "label", "title": "SLO"}]},
        },
        {
            "name": "slo_threshold_label",
            "data": {"name": "thresholds"},
            "transform": [only, {"filter": "datum.labelled"}],
            "mark": {"type": "text", "align": "left", "baseline": "top" if below else "bottom", "dx": 2,
                     "dy": 2 if below else -2, "fontSize": 9, "color": "#333"},
            "encoding": {"x": {"field": "x0", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"},
                         "text": {"field": "label"}},
        },
    ]


def _series(metrics: list[tuple[str, str]], y_title: str, *, log: bool = False) -> dict[str, Any]:
    """Lines of the selected request's ``metrics`` (point field, legend name)."""
    names = [name for _, name in metrics]
    return {
        "name": "series",
        "data": {"name": "points"},
        "transform": [
            {"filter": "datum.n === request"},
            *({"calculate": f"datum.{f}", "as": name} for f, name in metrics),
            {"fold": names, "as": ["metric", "value"]},
        ],
        "mark": {"type": "line", "strokeWidth": 1.5, "interpolate": "step-after"},
        "encoding": {
            "x": {"field": "t", "type": "quantitative"},
            "y": {"field": "value", "type": "quantitative", "title": y_title,
                  "scale": {"type": "log"} if log else {"zero": True}},
            "color": {"field": "metric", "type": "nominal", "title": None,
                      "scale": {"domain": names, "range": [METRIC_COLORS.get(n, "#888") for n in names]}},
        },
    }


def _hover(fields: list[tuple[str, str]], zoom: str, width: float) -> dict[str, Any]:
    """An invisible full-height column per point: hovering anywhere shows that time's figures (and shades the
    column); dragging pans and scrolling zooms the shared time axis."""
    return {
        "name": "hover",
        "data": {"name": "points"},
        "transform": [{"filter": "datum.n === request"}, {"calculate": f"datum.t + {width}", "as": "t_end"}],
        "params": [
            {"name": f"{zoom}_hover", "select": {"type": "point", "fields": ["t"], "on": "pointerover",
                                                 "clear": "pointerout"}},
            {"name": zoom, "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"},
        ],
        "mark": {"type": "rect", "color": "#666"},
        "encoding": {
            "x": {"field": "t", "type": "quantitative"},
            "x2": {"field": "t_end"},
            "opacity": {"condition": {"param": f"{zoom}_hover", "empty": False, "value": 0.15}, "value": 0},
            "tooltip": [{"field": "t", "title": "t (s)"}, *({"field": f, "title": t} for f, t in fields)],
        },
    }


_TOOLTIP = [("rps", "requests/s"), ("eps", "errors/s"), ("er", "error %"), ("p50", "p50 ms"), ("p95", "p95 ms"),
            ("p99", "p99 ms")]


def timeline_spec(timeline: Timeline) -> dict[str, Any]:
    """The Vega-Lite spec of the whole timeline (three charts on one time axis, a request selector)."""
    data = datasets(timeline)

    def chart(title: str, series: dict[str, Any], key: str, first: bool, last: bool) -> dict[str, Any]:
        layers = [
            *_band_layers(labels=first),
            *(_threshold_layers(key) if any(t["chart"] == key for t in data["thresholds"]) else []),
            series,
            *_event_layers(labels=first),
            _hover(_TOOLTIP, f"zoom_{key}", timeline.width),
        ]
        for layer in layers:  # mark names become CSS classes; they must be unique in the whole spec
            layer["name"] = f"{key}_{layer['name']}"
        return {
            "title": {"text": title, "anchor": "start", "fontSize": 13},
            "width": WIDTH,
            "height": HEIGHT,
            "layer": layers,
            "encoding": {"x": {"field": "t", "type": "quantitative", "scale": {"nice": False},
                               "title": "seconds since the run started" if last else None}},
        }

    throughput = _series([("rps", "requests/s"), ("eps", "errors/s")], "requests/s")
    errors = _series([("er", "error %")], "error rate (%)")
    latency = _series([("p50", "p50"), ("p95", "p95"), ("p99", "p99")], "latency (ms, log)", log=True)
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": "chaoskit run timeline",
        "datasets": data,
        "params": [{"name": "request", "value": ALL,
                    "bind": {"input": "select", "options": [ALL, *timeline.names], "name": "requests: ",
                             "element": "#timeline-controls"}}],
        "vconcat": [
            chart("Throughput", throughput, "throughput", True, False),
            chart("Error rate", errors, "errors", False, False),
            chart("Latency", latency, "latency", False, True),
        ],
        "resolve": {"scale": {"x": "shared", "color": "independent"}},
        "config": {"view": {"stroke": "#ddd"}, "axis": {"grid": True, "gridColor": "#eee"},
                   "legend": {"orient": "right"}},
    }
