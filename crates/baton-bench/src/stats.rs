//! Order statistics over samples: medians and nearest-rank percentiles.

/// Sorted samples of one figure, in its own unit (milliseconds, task runs per second…).
#[derive(Clone, Debug, Default)]
pub struct Samples {
    sorted: Vec<f64>,
}

impl Samples {
    pub fn new(mut values: Vec<f64>) -> Self {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        Samples { sorted: values }
    }

    pub fn count(&self) -> usize {
        self.sorted.len()
    }

    /// The nearest-rank percentile (`p` in 0..=100); `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.sorted.is_empty() {
            return None;
        }
        let rank = (p / 100.0 * self.sorted.len() as f64).ceil() as usize;
        Some(self.sorted[rank.clamp(1, self.sorted.len()) - 1])
    }

    /// The middle value (the mean of the two middle ones for an even count).
    pub fn median(&self) -> Option<f64> {
        let n = self.sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.sorted[n / 2]),
            _ => Some((self.sorted[n / 2 - 1] + self.sorted[n / 2]) / 2.0),
        }
    }

    pub fn max(&self) -> Option<f64> {
        self.sorted.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::Samples;

    #[test]
    fn percentiles_use_the_nearest_rank_and_the_median_averages_an_even_middle() {
        let samples = Samples::new((1..=10).map(f64::from).collect());
        assert_eq!(samples.percentile(50.0), Some(5.0));
        assert_eq!(samples.percentile(90.0), Some(9.0));
        assert_eq!(samples.percentile(99.0), Some(10.0));
        assert_eq!(samples.median(), Some(5.5));
        assert_eq!(Samples::new(vec![3.0, f64::NAN, 1.0]).median(), Some(2.0));
        assert_eq!(Samples::default().median(), None);
    }
}
