//! Reading what `alliance-hub view --json` prints: rows of (group, indicator, dimension, value)
//! with a count range, flag tally, status or amount, and the equivocations the view flags.

use serde_json::Value;

/// The exact total of a count indicator shown for `group`, as (lo, hi).
pub fn count_total(view: &Value, group: &str, indicator: &str) -> (u64, u64) {
    count_cell(view, group, indicator, "", "")
}

/// A cell of a count indicator shown for `group` (the total when `dimension` is empty), as
/// (lo, hi).
pub fn count_cell(
    view: &Value,
    group: &str,
    indicator: &str,
    dimension: &str,
    value: &str,
) -> (u64, u64) {
    let row = rows(view)
        .iter()
        .find(|row| {
            row["group"] == group
                && row["indicator"] == indicator
                && text(&row["dimension"]) == dimension
                && text(&row["value"]) == value
        })
        .unwrap_or_else(|| {
            panic!("no row for {group} {indicator} {dimension} {value} in the view:\n{view:#}")
        });
    let count = &row["count"];
    let bound = |name: &str| {
        count[name]
            .as_u64()
            .unwrap_or_else(|| panic!("count.{name} is not a number in {row:#}"))
    };
    (bound("lo"), bound("hi"))
}

/// The rows of a view, however they are nested.
pub fn rows(view: &Value) -> &Vec<Value> {
    view["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("the view has no rows array:\n{view:#}"))
}

/// How many rows of a view are shown for `group`.
pub fn rows_of(view: &Value, group: &str) -> usize {
    rows(view).iter().filter(|r| r["group"] == group).count()
}

/// The equivocations a view flags.
pub fn equivocations(view: &Value) -> &Vec<Value> {
    view["equivocations"]
        .as_array()
        .unwrap_or_else(|| panic!("the view has no equivocations array:\n{view:#}"))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}
