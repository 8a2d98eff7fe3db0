//! `canon plan`: each model against its last build, unchanged, changed or breaking.

use super::*;
use crate::{canon, ok};

#[test]
fn the_plan_sorts_changes_into_unchanged_changed_and_breaking() {
    let (_dir, project) = example_copy();
    let (code, before_build) = changes(&project, &[]);
    assert_eq!(code, Some(0));
    assert!(
        before_build
            .iter()
            .any(|(m, c, _)| m == "trips_clean" && c == "new")
    );
    ok(canon(&project, &["build"], None));
    let (code, plan) = changes(&project, &["--fail-on", "changed"]);
    assert_eq!(code, Some(0), "{plan:?}");
    for (model, change, _) in &plan {
        let expected = if model == "zone_names" {
            "view"
        } else {
            "unchanged"
        };
        assert_eq!(change, expected, "{model}");
    }

    // A column added is a change that breaks no reader.
    edit(
        &project,
        "SELECT payment, count(*) AS trips, sum(fare) AS fare\n",
        "SELECT payment, count(*) AS trips, sum(fare) AS fare, max(fare) AS top_fare\n",
    );
    edit(
        &project,
        "  { name = \"fare\", type = \"Decimal128(22, 2)\" },\n]\n",
        "  { name = \"fare\", type = \"Decimal128(22, 2)\" },\n  { name = \"top_fare\", type = \"Decimal128(12, 2)\" },\n]\n",
    );
    let (code, plan) = changes(&project, &["--fail-on", "breaking"]);
    assert_eq!(code, Some(0), "{plan:?}");
    let line = plan
        .iter()
        .find(|(m, ..)| m == "daily_zone_fares")
        .expect("line");
    assert_eq!(line.1, "unchanged", "{plan:?}");
    let line = plan
        .iter()
        .find(|(m, ..)| m == "payment_mix")
        .expect("line");
    assert_eq!(line.1, "changed", "{plan:?}");
    assert!(line.2.contains("column `top_fare` added"), "{plan:?}");
    let (code, _) = changes(&project, &["--fail-on", "changed"]);
    assert_eq!(code, Some(1));

    // Dropping a column (and the key on it) is breaking, and reaches every reader.
    edit(
        &project,
        "SELECT id, pickup_at, zone_id, payment, CAST(fare AS DECIMAL(12, 2)) AS fare",
        "SELECT pickup_at, zone_id, payment, CAST(fare AS DECIMAL(12, 2)) AS fare",
    );
    edit(&project, "primary_key = [\"id\"]\n", "");
    edit(
        &project,
        "  { name = \"id\", type = \"Int64\", nullable = false },\n  { name = \"pickup_at\", type = \"Timestamp(Microsecond, Some(\\\"UTC\\\"))\", nullable = false },\n  { name = \"zone_id\", type = \"Int32\", nullable = false },\n  { name = \"payment\"",
        "  { name = \"pickup_at\", type = \"Timestamp(Microsecond, Some(\\\"UTC\\\"))\", nullable = false },\n  { name = \"zone_id\", type = \"Int32\", nullable = false },\n  { name = \"payment\"",
    );
    let (code, plan) = changes(&project, &["--fail-on", "breaking"]);
    assert_eq!(code, Some(1), "{plan:?}");
    let line = plan
        .iter()
        .find(|(m, ..)| m == "trips_clean")
        .expect("line");
    assert_eq!(line.1, "breaking", "{plan:?}");
    assert!(line.2.contains("column `id` removed"), "{plan:?}");
    assert!(
        line.2.contains("primary key changed from (id) to ()"),
        "{plan:?}"
    );
    assert!(
        line.2
            .contains("(reaches daily_zone_fares, payment_mix, daily_fares)"),
        "{plan:?}"
    );
    // Retyping is breaking too.
    edit(
        &project,
        "sum(fare) AS fare, max(fare)",
        "CAST(sum(fare) AS DOUBLE) AS fare, max(fare)",
    );
    edit(
        &project,
        "  { name = \"fare\", type = \"Decimal128(22, 2)\" },\n  { name = \"top_fare\"",
        "  { name = \"fare\", type = \"Float64\" },\n  { name = \"top_fare\"",
    );
    let (_, plan) = changes(&project, &[]);
    let line = plan
        .iter()
        .find(|(m, ..)| m == "payment_mix")
        .expect("line");
    assert_eq!(line.1, "breaking", "{plan:?}");
    assert!(
        line.2
            .contains("column `fare` retyped from Decimal128(22, 2) to Float64"),
        "{plan:?}"
    );
}
