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


def drivers(points: pd.DataFrame) -> alt.Chart:
    """The attribute levels that move the fit score most, up or down."""
    return alt.Chart(points, title="What drives fit: points added to the fit score").mark_bar().encode(
        y=alt.Y("level:N", sort=alt.EncodingSortField("points", order="descending"), title=None,
                axis=alt.Axis(labelLimit=260)),
        x=alt.X("points:Q", title="fit points"),
        color=alt.condition("datum.points > 0", alt.value("#1a7f37"), alt.value("#cf222e")),
        tooltip=["attribute", "level", "points"],
    ).properties(width=WIDTH - 260)


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
    return alt.Chart(moves, title="Biggest movers since the last refresh").mark_bar().encode(
        y=alt.Y("account:N", sort=alt.EncodingSortField("moved", order="descending"), title=None,
                axis=alt.Axis(labelLimit=220)),
        x=alt.X("moved:Q", title="places moved up (negative = down)"),
        color=alt.condition("datum.moved > 0", alt.value("#1a7f37"), alt.value("#cf222e")),
    ).properties(width=WIDTH - 220)
