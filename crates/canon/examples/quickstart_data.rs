//! Writes the quickstart example's data files, deterministically: the same bytes on
//! every run, so the committed files can be regenerated and checked.
//!
//! Usage: `cargo run -p canon --example quickstart_data -- examples/quickstart/data`
//!
//! canon-cli's tests include this file as a module and call [`write`], so checking the
//! committed files needs no second build of the library.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use canon::datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use canon::datafusion::parquet::arrow::ArrowWriter;
use canon::datafusion::parquet::file::properties::WriterProperties;

const ZONES: [(i32, &str, &str); 6] = [
    (1, "Manhattan", "Midtown"),
    (2, "Manhattan", "Upper West Side"),
    (3, "Brooklyn", "Williamsburg"),
    (4, "Brooklyn", "Park Slope"),
    (5, "Queens", "Astoria"),
    (6, "Queens", "JFK Airport"),
];
const PAYMENTS: [&str; 3] = ["card", "cash", "app"];
/// Each year with its first day, in days since 1970-01-01.
const YEARS: [(i32, i64); 3] = [(2023, 19_358), (2024, 19_723), (2025, 20_089)];
const TRIPS_PER_YEAR: i64 = 2_000;

/// A fixed-seed 64-bit LCG: reproducible across platforms without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: quickstart_data OUT_DIR")?
        .into();
    write(&out)
}

/// Writes the example's `zones/` and `trips/` under `out`.
pub fn write(out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    write_zones(&out.join("zones"))?;
    write_trips(&out.join("trips"))?;
    Ok(())
}

fn write_zones(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut file = File::create(dir.join("zones.csv"))?;
    writeln!(file, "zone_id,borough,zone")?;
    for (id, borough, zone) in ZONES {
        writeln!(file, "{id},{borough},{zone}")?;
    }
    Ok(())
}

fn write_trips(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let utc: Arc<str> = Arc::from("UTC");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "pickup_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some(utc.clone())),
            false,
        ),
        Field::new("zone_id", DataType::Int32, false),
        Field::new("payment", DataType::Utf8, false),
        Field::new("fare", DataType::Float64, true),
    ]));
    let mut rng = Lcg(42);
    for (year, first_day) in YEARS {
        let year_start_us = first_day * 86_400 * 1_000_000;
        let rows = TRIPS_PER_YEAR;
        let first_id = i64::from(year - YEARS[0].0) * rows;
        let mut at: Vec<i64> = (0..rows)
            .map(|_| year_start_us + (rng.next() % (360 * 24 * 3600)) as i64 * 1_000_000)
            .collect();
        at.sort_unstable();
        let zone: Vec<i32> = (0..rows)
            .map(|_| ZONES[(rng.next() % 6) as usize].0)
            .collect();
        let payment: Vec<&str> = (0..rows)
            .map(|_| PAYMENTS[(rng.next() % 3) as usize])
            .collect();
        // Every 50th fare is missing, as in real trip records.
        let fare: Vec<Option<f64>> = (0..rows)
            .map(|i| (i % 50 != 7).then(|| (250 + rng.next() % 7_500) as f64 / 100.0))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(first_id..first_id + rows)),
            Arc::new(TimestampMicrosecondArray::from(at).with_timezone(utc.clone())),
            Arc::new(Int32Array::from(zone)),
            Arc::new(StringArray::from(payment)),
            Arc::new(Float64Array::from(fare)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let part = dir.join(format!("year={year}"));
        fs::create_dir_all(&part)?;
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(500))
            .build();
        let mut writer = ArrowWriter::try_new(
            File::create(part.join("part-0.parquet"))?,
            schema.clone(),
            Some(props),
        )?;
        writer.write(&batch)?;
        writer.close()?;
    }
    Ok(())
}
