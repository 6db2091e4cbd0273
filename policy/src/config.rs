//! Configuration errors shared by every policy's config table.
//!
//! Each policy has a serde struct that mirrors its `[policy.*]` table in the
//! scenario (and in the sidecar's config file) and a checked type built from it
//! exactly once. Building the checked type is where every range is enforced;
//! a violation is a [`ConfigError`] naming the key, the bad value and what is
//! accepted. Drivers add the table path in front with [`ConfigError::within`].

use std::fmt;

/// A configuration value outside its accepted range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    value: String,
    expected: String,
}

impl ConfigError {
    /// A rejected `value` for `key` (a dotted path relative to the policy's
    /// table, e.g. `"half_open_calls"`), with what is `expected` instead.
    pub fn new(
        key: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Prefixes the key with the table it belongs to, e.g.
    /// `err.within("policy.mesh.circuit_breaker")`.
    #[must_use]
    pub fn within(mut self, table: &str) -> Self {
        if !table.is_empty() {
            self.key = format!("{table}.{}", self.key);
        }
        self
    }

    /// The dotted key of the rejected value.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The rejected value, as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the key accepts.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` = {}: expected {}",
            self.key, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// A serde error `message` with the names of Rust's types said in words: a
/// config's reader sees "expected a whole number from 0 to 4294967295", not
/// "expected u32", and "expected a table", not "expected struct
/// RetryConfig" (nor, for an array where a table belongs, which serde reads
/// as the fields in order, "invalid length 0, expected struct RetryConfig
/// with 4 elements"). The simulator's scenario loader and the sidecar's
/// config loader both pass serde's messages through it.
pub fn in_words(message: &str) -> String {
    /// `message` with "{prefix}Name" (a Rust type's name) said as "expected
    /// a table", if it has one.
    fn as_table(message: &str, prefix: &str) -> Option<String> {
        let at = message.find(prefix)?;
        let name = &message[at + prefix.len()..];
        let name_len = name
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(name.len());
        let end = at + prefix.len() + name_len;
        Some(format!(
            "{}expected a table{}",
            &message[..at],
            &message[end..]
        ))
    }
    // A table told apart by a key (`{ process = "poisson", ... }`).
    if let Some(said) = as_table(message, "expected internally tagged enum ") {
        return in_words(&said);
    }
    // serde writes a float's every digit: `1e300` is 301 characters.
    const FLOAT: &str = "floating point `";
    if let Some(at) = message.find(FLOAT) {
        let start = at + FLOAT.len();
        if let Some(len) = message[start..].find('`')
            && len > 24
            && let Ok(x) = message[start..start + len].parse::<f64>()
        {
            let said = format!("{}{x:e}{}", &message[..start], &message[start + len..]);
            return in_words(&said);
        }
    }
    if message.starts_with("invalid length ") && message.contains("expected struct ") {
        return "invalid type: array, expected a table".to_owned();
    }
    if let Some(said) = as_table(message, "expected struct ") {
        return in_words(&said);
    }
    const NAMES: [(&str, &str); 10] = [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number >= 0"),
        ("expected usize", "expected a whole number >= 0"),
        ("expected i8", "expected a whole number from -128 to 127"),
        (
            "expected i16",
            "expected a whole number from -32768 to 32767",
        ),
        (
            "expected i32",
            "expected a whole number from -2147483648 to 2147483647",
        ),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
    ];
    // serde's data model names; a config is TOML.
    const SHAPES: [(&str, &str); 4] = [
        ("invalid type: map,", "invalid type: table,"),
        ("invalid type: sequence,", "invalid type: array,"),
        ("expected a map", "expected a table"),
        ("expected a sequence", "expected an array"),
    ];
    let mut out = message.to_owned();
    for (name, words) in SHAPES {
        out = out.replace(name, words);
    }
    for (name, words) in NAMES {
        // Only the whole name: `u8` is not the start of `u80`.
        let mut from = 0;
        while let Some(at) = out[from..].find(name).map(|i| i + from) {
            let end = at + name.len();
            if out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                from = end;
                continue;
            }
            out.replace_range(at..end, words);
            from = at + words.len();
        }
    }
    out
}

/// A value written either as a string or as a table (`boot_time = "30s"` or
/// `boot_time = { distribution = ... }`, `fallback = "degraded"` or a
/// response table).
#[cfg(feature = "serde")]
pub enum StringOrTable<S, T> {
    /// The string form, read by `S`.
    String(S),
    /// The table form, read by `T`.
    Table(T),
}

/// Reads a [`StringOrTable`]: a string by `S`'s own deserializer, a table by
/// `T`'s, so a bad value gets the message of the form it was written in (a
/// bad duration, an unknown distribution, a missing key). serde's untagged
/// enums, which try each form in turn, can only say that none matched.
/// Any other type is refused with `expecting`.
///
/// # Errors
/// The form's own error, or `expecting` for a value of another type.
#[cfg(feature = "serde")]
pub fn string_or_table<'de, D, S, T>(
    deserializer: D,
    expecting: &'static str,
) -> Result<StringOrTable<S, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    S: serde::Deserialize<'de>,
    T: serde::Deserialize<'de>,
{
    use core::marker::PhantomData;
    use serde::de::{self, MapAccess, Visitor};
    struct Either<S, T>(&'static str, PhantomData<fn() -> (S, T)>);
    impl<'de, S: serde::Deserialize<'de>, T: serde::Deserialize<'de>> Visitor<'de> for Either<S, T> {
        type Value = StringOrTable<S, T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            S::deserialize(de::value::StrDeserializer::<E>::new(v)).map(StringOrTable::String)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(StringOrTable::Table)
        }
    }
    deserializer.deserialize_any(Either(expecting, PhantomData))
}

/// The text with the integer literal at `span` written over with `0`, or
/// `None` if `span` holds no integer literal. toml reads integers up to
/// `u64::MAX` but toml_edit, which the loaders use to find the key at an
/// error's offset, only up to `i64::MAX`; with the value written over
/// (nothing before it moves) the key is found.
pub fn integer_written_over(text: &str, span: core::ops::Range<usize>) -> Option<String> {
    let value = text.get(span.clone())?.trim();
    let digits = value.trim_start_matches(['+', '-']);
    let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    integer.then(|| format!("{}0{}", &text[..span.start], &text[span.end..]))
}

/// toml says "duplicate key" at the second one (byte `offset` of `text`)
/// without naming it: the key as written there is named. Any other
/// message is returned as it is.
pub fn duplicate_named(text: &str, offset: Option<usize>, said: String) -> String {
    let key = offset
        .filter(|_| said == "duplicate key")
        .and_then(|o| text.get(o..))
        .and_then(|rest| rest.split(['=', '\n']).next())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    match key {
        Some(key) => format!("duplicate key `{key}`: each key is given once in its table"),
        None => said,
    }
}

/// serde's and toml's words that [`in_words`] and [`names_misread`] put in
/// TOML's or replace with the accepted values: a loader's fuzz test checks
/// that no refusal still says one.
pub const VAGUE_WORDS: [&str; 8] = [
    "did not match any variant",
    "wanted string or table",
    "wanted exactly 1 element",
    "variant identifier",
    "internally tagged",
    "type: map",
    "type: sequence",
    "expected struct",
];

/// A key that takes one of a few names (`popularity = "zipf"`,
/// `algorithm = "least-request"`) given a value of another type gets
/// toml's words for enums ("wanted string or table", "wanted exactly 1
/// element", "expected variant identifier"), which name no choice. With a
/// name that is no choice written over the value (`span` of `text`), serde
/// lists them: `reparse` reads the probed text and returns its error
/// message. The result is serde's usual message, with what was found and
/// the choices; `None` when `said` is not such a message or the key takes
/// no names. Both loaders (the simulator's, the sidecar's) use it.
pub fn names_misread(
    text: &str,
    span: core::ops::Range<usize>,
    said: &str,
    reparse: impl FnOnce(&str) -> Option<String>,
) -> Option<String> {
    const PROBE: &str = "headroom-probe-not-a-choice";
    let shape = said.starts_with("wanted string or table")
        || said.starts_with("wanted exactly 1 element")
        || said.ends_with("expected variant identifier")
        || said == "invalid type: array, expected a table";
    if !shape {
        return None;
    }
    let raw = text.get(span.clone())?.trim();
    let probed = format!("{}\"{PROBE}\"{}", &text[..span.start], &text[span.end..]);
    let message = reparse(&probed)?;
    let choices = message
        .trim_end()
        .strip_prefix(&format!("unknown variant `{PROBE}`, expected "))?
        .to_owned();
    let found = match raw.as_bytes().first()? {
        b'"' | b'\'' => format!("string {raw}"),
        b'[' => "array".to_owned(),
        b'{' => "table".to_owned(),
        _ if raw == "true" || raw == "false" => format!("boolean `{raw}`"),
        b'0'..=b'9' if raw.contains(':') => format!("datetime `{raw}`"),
        _ if raw.contains(['.', 'e', 'E', 'n', 'i']) && !raw.starts_with("0x") => {
            format!("floating point `{raw}`")
        }
        _ => format!("integer `{raw}`"),
    };
    Some(format!("invalid type: {found}, expected {choices}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_of_the_wrong_type_is_told_the_choices() {
        let text = "model = true\n";
        let reparse = |probed: &str| {
            assert_eq!(probed, "model = \"headroom-probe-not-a-choice\"\n");
            Some(
                "unknown variant `headroom-probe-not-a-choice`, expected `threads` or `event-loop`"
                    .to_owned(),
            )
        };
        assert_eq!(
            names_misread(text, 8..12, "wanted string or table", reparse).as_deref(),
            Some("invalid type: boolean `true`, expected `threads` or `event-loop`")
        );
        // Another message, or a key that takes no names, is left alone.
        assert_eq!(
            names_misread(text, 8..12, "expected a string", |_| None),
            None
        );
        assert_eq!(
            names_misread(text, 8..12, "wanted string or table", |_| Some(
                "invalid type: string \"x\", expected a table".to_owned()
            )),
            None
        );
        for (raw, found) in [
            ("[1]", "array"),
            ("{}", "table"),
            ("2.5", "floating point `2.5`"),
            ("nan", "floating point `nan`"),
            ("18446744073709551615", "integer `18446744073709551615`"),
            ("1979-05-27T07:32:00Z", "datetime `1979-05-27T07:32:00Z`"),
        ] {
            let text = format!("m = {raw}");
            let said = names_misread(&text, 4..text.len(), "wanted string or table", |_| {
                Some("unknown variant `headroom-probe-not-a-choice`, expected `a`".to_owned())
            });
            assert_eq!(said, Some(format!("invalid type: {found}, expected `a`")));
        }
    }

    #[test]
    fn only_an_integer_is_written_over() {
        let text = "a = 18446744073709551615\nb = 1";
        assert_eq!(
            integer_written_over(text, 4..24).as_deref(),
            Some("a = 0\nb = 1")
        );
        assert_eq!(integer_written_over(text, 0..1), None);
        assert_eq!(integer_written_over(text, 4..99), None);
    }

    #[test]
    fn a_duplicate_key_is_named_as_written() {
        let text = "a = 1\n\"b.c\" = 2\n\"b.c\" = 3\n";
        let at = text.rfind("\"b.c\"");
        assert_eq!(
            duplicate_named(text, at, "duplicate key".to_owned()),
            "duplicate key `\"b.c\"`: each key is given once in its table"
        );
        assert_eq!(
            duplicate_named(text, at, "expected `=`".to_owned()),
            "expected `=`"
        );
        assert_eq!(
            duplicate_named(text, None, "duplicate key".to_owned()),
            "duplicate key"
        );
    }

    #[test]
    fn tagged_tables_and_long_floats_are_said_in_words() {
        assert_eq!(
            in_words("invalid type: integer `0`, expected internally tagged enum ArrivalsConfig"),
            "invalid type: integer `0`, expected a table"
        );
        let long = format!(
            "invalid type: floating point `1{}`, expected a string",
            "0".repeat(300)
        );
        assert_eq!(
            in_words(&long),
            "invalid type: floating point `1e300`, expected a string"
        );
        assert_eq!(
            in_words("invalid type: floating point `2.5`, expected a string"),
            "invalid type: floating point `2.5`, expected a string"
        );
        assert_eq!(
            in_words("invalid type: map, expected u32"),
            "invalid type: table, expected a whole number from 0 to 4294967295"
        );
        assert_eq!(
            in_words("invalid type: boolean `true`, expected a sequence"),
            "invalid type: boolean `true`, expected an array"
        );
    }

    #[test]
    fn number_type_names_are_said_in_words() {
        assert_eq!(
            in_words("invalid type: floating point `1.5`, expected u32"),
            "invalid type: floating point `1.5`, expected a whole number from 0 to 4294967295"
        );
        // Only whole names, each occurrence.
        assert_eq!(
            in_words("expected u8, u80, expected u80, expected u8"),
            "expected a whole number from 0 to 255, u80, expected u80, expected a whole number from 0 to 255"
        );
        assert_eq!(in_words("expected f64"), "expected a number");
        assert_eq!(in_words("expected usize"), "expected a whole number >= 0");
        assert_eq!(in_words("no type here"), "no type here");
    }

    #[test]
    fn struct_names_are_said_as_tables() {
        assert_eq!(
            in_words("invalid type: integer `5`, expected struct InstanceConfig"),
            "invalid type: integer `5`, expected a table"
        );
        // Serde reads an array as a struct's fields in order.
        assert_eq!(
            in_words("invalid length 0, expected struct RetryConfig with 4 elements"),
            "invalid type: array, expected a table"
        );
    }

    #[test]
    fn message_names_key_value_and_range() {
        let err = ConfigError::new("half_open_calls", 0, "an integer >= 1")
            .within("policy.mesh.circuit_breaker");
        assert_eq!(err.key(), "policy.mesh.circuit_breaker.half_open_calls");
        assert_eq!(
            err.to_string(),
            "`policy.mesh.circuit_breaker.half_open_calls` = 0: expected an integer >= 1"
        );
    }
}
