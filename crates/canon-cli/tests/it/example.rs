//! The bundled example's data is what its generator writes.

use std::process::Command;

use crate::{canon, ok, quickstart_copy};

#[test]
fn example_data_regenerates_identically() {
    let dir = quickstart_copy();
    let fresh = dir.path().join("fresh");
    let status = Command::new(env!("CARGO"))
        .args([
            "run",
            "-q",
            "-p",
            "canon",
            "--example",
            "quickstart_data",
            "--",
        ])
        .arg(&fresh)
        .status()
        .expect("run the generator");
    assert!(status.success());
    for file in [
        "trips/year=2023/part-0.parquet",
        "trips/year=2024/part-0.parquet",
        "trips/year=2025/part-0.parquet",
        "zones/zones.csv",
    ] {
        let committed =
            std::fs::read(crate::quickstart_dir().join("data").join(file)).expect("committed file");
        let regenerated = std::fs::read(fresh.join(file)).expect("regenerated file");
        assert!(
            committed == regenerated,
            "{file} differs from what the generator writes"
        );
    }
    // And the example answers from it.
    let out = ok(canon(
        dir.path(),
        &[
            "query",
            "SELECT count(*) AS n FROM trips WHERE fare IS NULL",
            "--format",
            "csv",
        ],
        None,
    ));
    assert_eq!(out, "n\n120\n");
}
