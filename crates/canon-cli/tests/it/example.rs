//! The bundled example's data is what its generator writes.

use crate::{canon, ok, quickstart_copy};

// The generator itself, compiled into this test binary: running it through `cargo run`
// would build the library a second time with other features.
#[allow(dead_code)] // its `main` is the example's entry point, not called here
#[path = "../../../canon/examples/quickstart_data.rs"]
mod generator;

#[test]
fn example_data_regenerates_identically() {
    let dir = quickstart_copy();
    let fresh = dir.path().join("fresh");
    generator::write(&fresh).expect("run the generator");
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
