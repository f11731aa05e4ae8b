//! The one error type of the wire layer, and the helpers that give every refusal a field path
//! such as `values[2].count.breakdowns[0].cells[1].value`.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::str::FromStr;

/// Why bytes or a decoded message were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes are not a protobuf encoding of the expected message (truncated, garbage, or
    /// nested deeper than prost's recursion limit).
    #[error("cannot decode {message}: {source}")]
    Decode {
        /// The full protobuf name of the message expected, such as `alliance.v1.Report`.
        message: &'static str,
        source: prost::DecodeError,
    },
    /// The message decoded, but a field holds something the domain refuses: a bad id, an
    /// unknown or unspecified enum value, a key given twice, a required field missing.
    #[error("{}", FieldDisplay { field, problem })]
    Field {
        /// Path of the field in the message, using the protobuf field names, such as
        /// `values[2].count.total`; empty when the problem is the message as a whole.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl WireError {
    /// The field path of a [`WireError::Field`], if it is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            WireError::Field { field, .. } => Some(field),
            WireError::Decode { .. } => None,
        }
    }

    /// A problem with the value at hand; the callers up the tree add the field path.
    pub(crate) fn problem(problem: impl Display) -> Self {
        WireError::Field {
            field: String::new(),
            problem: problem.to_string(),
        }
    }

    /// A required message field that is not set.
    pub(crate) fn missing() -> Self {
        WireError::problem("required but missing")
    }

    /// Places this error under `parent`, a field name as seen from the enclosing message, such
    /// as `count` or `cells[1]`.
    fn under(self, parent: impl Display) -> Self {
        match self {
            WireError::Field { field, problem } => WireError::Field {
                field: if field.is_empty() {
                    parent.to_string()
                } else {
                    format!("{parent}.{field}")
                },
                problem,
            },
            decode @ WireError::Decode { .. } => decode,
        }
    }
}

/// Shows `field: problem`, or just the problem when it concerns the whole message.
struct FieldDisplay<'a> {
    field: &'a str,
    problem: &'a str,
}

impl Display for FieldDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(self.problem)
        } else {
            write!(f, "{}: {}", self.field, self.problem)
        }
    }
}

/// Adds a field's name to the path of an error coming up from inside it. The path is only built
/// on failure, so the success path allocates nothing.
pub(crate) trait Within<T> {
    /// The error is about the field `field` of the current message.
    fn within(self, field: &str) -> Result<T, WireError>;
    /// The error is about element `index` of the repeated field `field`.
    fn within_at(self, field: &str, index: usize) -> Result<T, WireError>;
}

impl<T> Within<T> for Result<T, WireError> {
    fn within(self, field: &str) -> Result<T, WireError> {
        self.map_err(|e| e.under(field))
    }

    fn within_at(self, field: &str, index: usize) -> Result<T, WireError> {
        self.map_err(|e| e.under(format_args!("{field}[{index}]")))
    }
}

/// Parses a text field with the domain's own parser, keeping the domain's explanation.
pub(crate) fn parse<T>(text: &str) -> Result<T, WireError>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse().map_err(WireError::problem)
}

/// Parses a text field that may be empty, meaning "none".
pub(crate) fn parse_optional<T>(text: &str) -> Result<Option<T>, WireError>
where
    T: FromStr,
    T::Err: Display,
{
    if text.is_empty() {
        Ok(None)
    } else {
        parse(text).map(Some)
    }
}

/// A message field that must be set.
pub(crate) fn required<T>(field: Option<T>) -> Result<T, WireError> {
    field.ok_or_else(WireError::missing)
}

/// A fixed-length byte field, such as a 32-byte key or report id.
pub(crate) fn fixed_bytes<const N: usize>(bytes: &[u8]) -> Result<[u8; N], WireError> {
    bytes
        .try_into()
        .map_err(|_| WireError::problem(format_args!("{} bytes, expected {N}", bytes.len())))
}

/// Converts the entries of a repeated field into a map, refusing a key given twice: a proto map
/// would silently keep the last one, which would let two readers see different reports.
///
/// `field` is the repeated field's name and `key_field` the name of the key inside an entry, so
/// that a duplicate is reported as, say, `values[3].indicator`.
pub(crate) fn unique_entries<P, K, V>(
    entries: Vec<P>,
    field: &str,
    key_field: &str,
    convert: impl Fn(P) -> Result<(K, V), WireError>,
) -> Result<BTreeMap<K, V>, WireError>
where
    K: Ord + Display,
{
    let mut map = BTreeMap::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let (key, value) = convert(entry).within_at(field, index)?;
        if map.contains_key(&key) {
            let duplicate = WireError::problem(format_args!(
                "{:?} is given more than once",
                key.to_string()
            ));
            return Err(duplicate
                .under(key_field)
                .under(format_args!("{field}[{index}]")));
        }
        map.insert(key, value);
    }
    Ok(map)
}
