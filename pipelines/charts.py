"""The report's charts: Altair (Vega-Lite) specs rendered to inline SVG by vl-convert, with no browser and no
network."""
from __future__ import annotations

import altair as alt
import pandas as pd
import vl_convert

KIND_COLOURS = alt.Scale(domain=["icp", "neutral", "anti_icp"], range=["#1a7f37", "#8c959f", "#cf222e"])
TIER_COLOURS = alt.Scale(domain=["A", "B", "C", "D"], range=["#1a7f37", "#4c9f5f", "#d4a72c", "#cf222e"])
WIDTH = 520


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG element (text, not an image link)."""
    out = vl_convert.vegalite_to_svg(chart.to_dict())
    return out[out.index("<svg"):]


def warm_up() -> None:
    """Start the renderer's JavaScript engine (its first chart costs most of a second) ahead of the report."""
    vl_convert.vegalite_to_svg({"data": {"values": [{"x": 0}]}, "mark": "point",
                                "encoding": {"x": {"field": "x", "type": "quantitative"}}})


def segments(seg: pd.DataFrame) -> alt.Chart:
    """Lift of each segment (ideal rate over the average), coloured by kind."""
    return alt.Chart(seg, title="Ideal-customer lift per segment").mark_bar().encode(
        y=alt.Y("segment:N", sort=None, title=None, axis=alt.Axis(labelLimit=480)),
        x=alt.X("lift:Q", title="lift (1 = average customer)"),
        color=alt.Color("kind:N", scale=KIND_COLOURS, title="kind"),
        tooltip=["segment", "lift", "n_accounts"],
    ).properties(width=300)


def tiers(rates: pd.DataFrame) -> alt.Chart:
    """Backtest conversion rate per fit tier."""
    base = alt.Chart(rates, title="Backtest: conversion by fit tier").encode(
        x=alt.X("tier:N", title="fit tier at the cutoff", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("conversion:Q", title="converted after the cutoff", axis=alt.Axis(format="%")),
    )
    bars = base.mark_bar().encode(color=alt.Color("tier:N", scale=TIER_COLOURS, legend=None))
    labels = base.mark_text(dy=-6).encode(text=alt.Text("conversion:Q", format=".0%"))
    return (bars + labels).properties(width=260, height=220)


def gain(curve: pd.DataFrame) -> alt.LayerChart:
    """Cumulative gain against calling accounts at random."""
    points = pd.concat([pd.DataFrame({"share_contacted": [0.0], "share_converted": [0.0]}), curve])
    model = alt.Chart(points).mark_line(point=alt.OverlayMarkDef(color="#1a7f37"), color="#1a7f37").encode(
        x=alt.X("share_contacted:Q", title="share of accounts called, best fit first", axis=alt.Axis(format="%")),
        y=alt.Y("share_converted:Q", title="share of buyers found", axis=alt.Axis(format="%")),
    )
    chance = alt.Chart(pd.DataFrame({"share_contacted": [0.0, 1.0], "share_converted": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="#8c959f").encode(x="share_contacted:Q", y="share_converted:Q")
    return (chance + model).properties(title="Backtest: cumulative gain (dashed = random)", width=260, height=220)


def _diverging(df: pd.DataFrame, title: str, label: str, value: str, axis_title: str, label_width: int,
               tooltip: list[str]) -> alt.Chart:
    """Horizontal bars sorted by value, green above zero and red below."""
    return alt.Chart(df, title=title).mark_bar().encode(
        y=alt.Y(f"{label}:N", sort=alt.EncodingSortField(value, order="descending"), title=None,
                axis=alt.Axis(labelLimit=label_width)),
        x=alt.X(f"{value}:Q", title=axis_title),
        color=alt.condition(f"datum.{value} > 0", alt.value("#1a7f37"), alt.value("#cf222e")),
        tooltip=tooltip,
    ).properties(width=WIDTH - label_width)


def drivers(points: pd.DataFrame) -> alt.Chart:
    """The attribute levels that move the fit score most, up or down."""
    return _diverging(points, "What drives fit: points added to the fit score", "level", "points", "fit points",
                      260, ["attribute", "level", "points"])


def distribution(bins: pd.DataFrame) -> alt.Chart:
    """Fit score distribution of customers, prospects and churned accounts (share of each group per band)."""
    return alt.Chart(bins, title="Fit score distribution").mark_line(point=True, interpolate="monotone").encode(
        x=alt.X("band:Q", title="fit score (5-point bands)", scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("share:Q", title="share of the group", axis=alt.Axis(format="%")),
        color=alt.Color("lifecycle:N", title=None,
                        scale=alt.Scale(domain=["customer", "prospect", "churned"],
                                        range=["#1a7f37", "#0969da", "#cf222e"])),
    ).properties(width=WIDTH, height=200)


def quality(summary: pd.DataFrame) -> alt.Chart:
    """Rows read per landing entity, split by what became of them."""
    long = summary.melt(id_vars="entity", value_vars=["kept", "rejected", "excluded", "unmatched", "superseded"],
                        var_name="outcome", value_name="rows")
    long = long[long["rows"] > 0]
    return alt.Chart(long, title="Landing rows per entity").mark_bar().encode(
        y=alt.Y("entity:N", title=None),
        x=alt.X("rows:Q", title="rows read", stack="zero"),
        color=alt.Color("outcome:N", scale=alt.Scale(
            domain=["kept", "rejected", "excluded", "unmatched", "superseded"],
            range=["#8c959f", "#cf222e", "#d4a72c", "#bf8700", "#0969da"])),
        tooltip=["entity", "outcome", "rows"],
    ).properties(width=WIDTH - 140)


def movers(moves: pd.DataFrame) -> alt.Chart:
    """The biggest rank changes since the last refresh (positive = moved up)."""
    return _diverging(moves, "Biggest movers since the last refresh", "account", "moved",
                      "places moved up (negative = down)", 220, ["account", "previous_rank", "rank"])
