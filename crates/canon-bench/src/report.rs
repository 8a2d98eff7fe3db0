//! Timing and text tables shared by every benchmark.

use std::time::Duration;

use crate::BenchResult;

/// The median of `runs` timings of `f`, each measured by `f` itself.
pub fn median_of(
    runs: usize,
    mut f: impl FnMut() -> BenchResult<Duration>,
) -> BenchResult<Duration> {
    let times = (0..runs.max(1))
        .map(|_| f())
        .collect::<BenchResult<Vec<_>>>()?;
    Ok(median(&times))
}

/// The median of some timings (the upper one of the middle two for an even count).
pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// Milliseconds with two decimals, the unit of every table here.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// `other / canon` as `0.00x`; below 1 the peer is faster than Canon.
pub fn ratio(other: Duration, canon: Duration) -> String {
    if canon.is_zero() {
        return "-".into();
    }
    format!("{:.2}x", other.as_secs_f64() / canon.as_secs_f64())
}

/// The median of `other[i] / canon[i]` over the rounds: both runs of a round are back to
/// back, so a slow spell of the machine (it moves by a third between hours) falls on both
/// and cancels, where the ratio of the two medians keeps it. `None` without a round.
pub fn paired(other: &[Duration], canon: &[Duration]) -> Option<f64> {
    let ratios: Vec<f64> = other
        .iter()
        .zip(canon)
        .filter(|(_, c)| !c.is_zero())
        .map(|(o, c)| o.as_secs_f64() / c.as_secs_f64())
        .collect();
    median_f64(&ratios)
}

/// The median of some ratios (the upper one of the middle two for an even count).
pub fn median_f64(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// A ratio as `0.000x`, `-` when there is none.
pub fn times(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) => format!("{r:.3}x"),
        None => "-".into(),
    }
}

/// A text table with a header row; columns are right-aligned (numbers) except the first
/// and those named in `left_aligned`.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    left: Vec<usize>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            left: vec![0],
        }
    }

    /// Aligns these columns (by index) to the left, as text.
    pub fn left_aligned(mut self, columns: &[usize]) -> Self {
        self.left.extend_from_slice(columns);
        self
    }

    /// Appends a row; missing cells print empty.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table as a Markdown pipe table, which also reads well as plain text.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let parts: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let cell = cells.get(i).map_or("", String::as_str);
                    if self.left.contains(&i) {
                        format!("{cell:<w$}")
                    } else {
                        format!("{cell:>w$}")
                    }
                })
                .collect();
            format!("| {} |\n", parts.join(" | "))
        };
        let mut out = line(&self.header);
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let dashes = "-".repeat((*w).max(3));
                if self.left.contains(&i) {
                    format!(":{}", &dashes[1..])
                } else {
                    format!("{}:", &dashes[1..])
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paired_ratio_follows_the_rounds_not_the_medians() {
        let ms = Duration::from_millis;
        // The machine turns three times slower from the third round's second run on: the
        // medians' ratio takes the spell for the engine, each round shows 1.1.
        let canon = [ms(100), ms(100), ms(100), ms(300), ms(300)];
        let plain = [ms(110), ms(110), ms(330), ms(330), ms(330)];
        assert_eq!(ratio(median(&plain), median(&canon)), "3.30x");
        assert_eq!(times(paired(&plain, &canon)), "1.100x");
        assert_eq!(times(paired(&[], &[])), "-");
        assert_eq!(times(paired(&[ms(1)], &[Duration::ZERO])), "-");
    }
}
