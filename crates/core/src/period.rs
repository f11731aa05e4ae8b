//! Reporting periods: calendar years, halves and quarters.
//!
//! Each framework version fixes the one [`PeriodKind`] its reports use. The parser knows all three
//! kinds so that a later version can move to halves or quarters without a node upgrade.

use std::fmt;
use std::str::FromStr;

use time::{Date, Month};

/// The earliest year a period may name. The alliance was founded in 2008; earlier years are
/// accepted for back-filled history but year 0 and the distant past are not real periods.
pub const MIN_YEAR: u16 = 1900;
/// The latest year a period may name.
pub const MAX_YEAR: u16 = 9998;

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeriodKind {
    Year,
    Half,
    Quarter,
}

/// One reporting period, such as `2009`, `2009-H1` or `2009-Q3`.
///
/// Periods order by start date, then by length (a year before its first half).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Year(u16),
    /// Year and half, 1 or 2.
    Half(u16, u8),
    /// Year and quarter, 1 to 4.
    Quarter(u16, u8),
}

/// Why a period could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("period {0:?} is not of the form YYYY, YYYY-H1..H2 or YYYY-Q1..Q4")]
    Syntax(String),
    #[error("year {0} is outside {MIN_YEAR}..={MAX_YEAR}")]
    Year(u32),
    #[error("half {0} does not exist (halves are H1 and H2)")]
    Half(u32),
    #[error("quarter {0} does not exist (quarters are Q1 to Q4)")]
    Quarter(u32),
}

impl Period {
    /// A year period, checking the range.
    pub fn year(year: u16) -> Result<Self, PeriodError> {
        check_year(u32::from(year))?;
        Ok(Period::Year(year))
    }

    /// A half-year period, checking both parts.
    pub fn half(year: u16, half: u8) -> Result<Self, PeriodError> {
        check_year(u32::from(year))?;
        if !(1..=2).contains(&half) {
            return Err(PeriodError::Half(u32::from(half)));
        }
        Ok(Period::Half(year, half))
    }

    /// A quarter period, checking both parts.
    pub fn quarter(year: u16, quarter: u8) -> Result<Self, PeriodError> {
        check_year(u32::from(year))?;
        if !(1..=4).contains(&quarter) {
            return Err(PeriodError::Quarter(u32::from(quarter)));
        }
        Ok(Period::Quarter(year, quarter))
    }

    pub fn kind(self) -> PeriodKind {
        match self {
            Period::Year(_) => PeriodKind::Year,
            Period::Half(..) => PeriodKind::Half,
            Period::Quarter(..) => PeriodKind::Quarter,
        }
    }

    pub fn calendar_year(self) -> u16 {
        match self {
            Period::Year(y) | Period::Half(y, _) | Period::Quarter(y, _) => y,
        }
    }

    /// The first day of the period.
    pub fn start(self) -> Date {
        let (year, month) = match self {
            Period::Year(y) => (y, 1),
            Period::Half(y, h) => (y, 1 + 6 * (h - 1)),
            Period::Quarter(y, q) => (y, 1 + 3 * (q - 1)),
        };
        first_of_month(year, month)
    }

    /// The first day after the period (its exclusive end).
    pub fn end_exclusive(self) -> Date {
        let months = match self {
            Period::Year(_) => 12,
            Period::Half(..) => 6,
            Period::Quarter(..) => 3,
        };
        let start = self.start();
        let month0 = u8::from(start.month()) - 1 + months;
        first_of_month(
            start.year() as u16 + u16::from(month0 / 12),
            month0 % 12 + 1,
        )
    }

    /// Whether the two periods share at least one day.
    pub fn overlaps(self, other: Period) -> bool {
        self.start() < other.end_exclusive() && other.start() < self.end_exclusive()
    }

    /// Whether `self` lies entirely within `span`, inclusive at both ends.
    pub fn within(self, span: &PeriodSpan) -> bool {
        span.first.start() <= self.start() && self.end_exclusive() <= span.last.end_exclusive()
    }
}

/// A run of periods from `first` to `last` inclusive, such as the 2008–2010 programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeriodSpan {
    pub first: Period,
    pub last: Period,
}

impl PeriodSpan {
    /// A span of one period.
    pub fn single(period: Period) -> Self {
        PeriodSpan {
            first: period,
            last: period,
        }
    }

    /// A span, refusing one that ends before it starts.
    pub fn new(first: Period, last: Period) -> Result<Self, PeriodError> {
        if last.end_exclusive() <= first.start() {
            return Err(PeriodError::Syntax(format!("{first}..{last}")));
        }
        Ok(PeriodSpan { first, last })
    }

    pub fn contains(&self, period: Period) -> bool {
        period.within(self)
    }
}

impl FromStr for PeriodSpan {
    type Err = PeriodError;

    /// Parses `2009` or `2008..2010`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once("..") {
            Some((a, b)) => PeriodSpan::new(a.parse()?, b.parse()?),
            None => Ok(PeriodSpan::single(s.parse()?)),
        }
    }
}

impl fmt::Display for PeriodSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start(), std::cmp::Reverse(self.end_exclusive()))
            .cmp(&(other.start(), std::cmp::Reverse(other.end_exclusive())))
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Year(y) => write!(f, "{y:04}"),
            Period::Half(y, h) => write!(f, "{y:04}-H{h}"),
            Period::Quarter(y, q) => write!(f, "{y:04}-Q{q}"),
        }
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PeriodError::Syntax(s.to_owned());
        let (year, rest) = match s.split_once('-') {
            Some((y, r)) => (y, Some(r)),
            None => (s, None),
        };
        let year = parse_digits(year, 4).ok_or_else(syntax)?;
        check_year(year)?;
        let year = year as u16;
        let Some(rest) = rest else {
            return Ok(Period::Year(year));
        };
        let (letter, number) = rest.split_at_checked(1).ok_or_else(syntax)?;
        let number = parse_digits(number, 1).ok_or_else(syntax)?;
        match letter {
            "H" => Period::half(
                year,
                u8::try_from(number).map_err(|_| PeriodError::Half(number))?,
            ),
            "Q" => Period::quarter(
                year,
                u8::try_from(number).map_err(|_| PeriodError::Quarter(number))?,
            ),
            _ => Err(syntax()),
        }
    }
}

fn parse_digits(s: &str, len: usize) -> Option<u32> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn check_year(year: u32) -> Result<(), PeriodError> {
    if (u32::from(MIN_YEAR)..=u32::from(MAX_YEAR)).contains(&year) {
        Ok(())
    } else {
        Err(PeriodError::Year(year))
    }
}

fn first_of_month(year: u16, month: u8) -> Date {
    // Both parts come from a checked period, so the date always exists.
    let month = Month::try_from(month).unwrap_or(Month::January);
    Date::from_calendar_date(i32::from(year), month, 1).unwrap_or(Date::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_every_kind() {
        for text in ["2009", "2009-H1", "2009-H2", "2009-Q1", "2009-Q4"] {
            let period: Period = text.parse().unwrap();
            assert_eq!(period.to_string(), text);
        }
    }

    #[test]
    fn refuses_periods_that_do_not_exist() {
        assert_eq!("2009-Q5".parse::<Period>(), Err(PeriodError::Quarter(5)));
        assert_eq!("2009-H3".parse::<Period>(), Err(PeriodError::Half(3)));
        assert_eq!("0000".parse::<Period>(), Err(PeriodError::Year(0)));
        assert_eq!("2009-Q0".parse::<Period>(), Err(PeriodError::Quarter(0)));
        for bad in [
            "",
            "209",
            "20090",
            "2009-",
            "2009-X1",
            "2009-Q",
            "2009-Q11",
            "+009",
            "２００９",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn dates_and_overlap() {
        let y: Period = "2009".parse().unwrap();
        let h2: Period = "2009-H2".parse().unwrap();
        let q4: Period = "2009-Q4".parse().unwrap();
        let next: Period = "2010-Q1".parse().unwrap();
        assert_eq!(q4.end_exclusive(), next.start());
        assert_eq!(y.end_exclusive().to_string(), "2010-01-01");
        assert_eq!(h2.start().to_string(), "2009-07-01");
        assert!(y.overlaps(h2) && h2.overlaps(q4) && !q4.overlaps(next) && !y.overlaps(next));
    }

    #[test]
    fn spans() {
        let span: PeriodSpan = "2008..2010".parse().unwrap();
        assert!(span.contains("2009".parse().unwrap()));
        assert!(span.contains("2010-Q2".parse().unwrap()));
        assert!(!span.contains("2011".parse().unwrap()));
        assert!("2010..2008".parse::<PeriodSpan>().is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(year in MIN_YEAR..=MAX_YEAR, kind in 0u8..3, part in 1u8..=4) {
            let period = match kind {
                0 => Period::Year(year),
                1 => Period::Half(year, 1 + part % 2),
                _ => Period::Quarter(year, part),
            };
            prop_assert_eq!(period.to_string().parse::<Period>(), Ok(period));
            prop_assert!(period.start() < period.end_exclusive());
        }
    }
}
