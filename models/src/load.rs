//! Loading a scenario file: read, apply `--set` overrides, parse, validate.
//!
//! Every failure is one [`ScenarioError`] that names the file, the key (with
//! line and column where the TOML gives them), the bad value and what is
//! accepted. Nothing here panics on user input.

use std::fmt;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::plan::{Invalid, Plan};
use crate::scenario::Scenario;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read the scenario file: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`: an error chain
        /// printed with its causes would name it twice).
        error: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, a value of the wrong
    /// type or form, or a value outside its accepted range.
    #[error("{location}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A `--set PATH=VALUE` argument could not be applied.
    #[error("--set {arg}: {message}")]
    Set {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        message: String,
    },
    /// A trace the scenario replays (`workload.arrivals.path`) could not be
    /// read: `error` says so in the scenario's terms (its keys); `trace` is
    /// the trace reader's own message, in the terms of the `trace` and
    /// `replay` commands (their flags), for a command that named the trace
    /// itself.
    #[error("{error}")]
    Trace {
        /// The error as the scenario reports it.
        error: Box<ScenarioError>,
        /// The trace reader's message.
        trace: String,
    },
}

/// A place in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, col)) => write!(f, "{}:{line}:{col}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// A scenario as loaded: the text after overrides, the parsed schema, and the
/// checked plan.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The scenario file.
    pub path: PathBuf,
    /// The parsed scenario, defaults filled in.
    pub scenario: Scenario,
    /// The checked model.
    pub plan: Plan,
}

/// Reads `path`, applies `sets` (`PATH=VALUE` strings, in order), parses and
/// validates.
pub fn load(path: &Path, sets: &[String]) -> Result<Loaded, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read {
        path: path.to_owned(),
        error,
    })?;
    load_str(path, &text, sets)
}

/// As [`load`], with the file's text already read. `path` names the file in
/// errors and anchors relative paths inside the scenario.
///
/// An error in a value that a `--set` gave is reported as that `--set`'s
/// (the file's line holds the value it replaced, or nothing); any other is
/// located in the file as written.
pub fn load_str(path: &Path, text: &str, sets: &[String]) -> Result<Loaded, ScenarioError> {
    let (edited, applied) = apply_sets(path, text, sets)?;
    let scenario: Scenario = toml::from_str(&edited).map_err(|e| {
        let offset = e.span().map(|s| s.start);
        let (offset, said) = match offset.and_then(|o| table_written_as_array(&edited, o)) {
            Some(array) => (
                Some(array),
                "invalid type: array, expected a table".to_owned(),
            ),
            None => (
                offset,
                headroom_policy::config::in_words(e.message().trim_end()),
            ),
        };
        let reparse = |probed: &str| {
            toml::from_str::<Scenario>(probed)
                .err()
                .map(|e| e.message().to_owned())
        };
        // Only where serde failed at the value itself, not inside an array
        // written for a table.
        let said = e
            .span()
            .filter(|s| offset == Some(s.start))
            .and_then(|s| headroom_policy::config::names_misread(&edited, s, &said, reparse))
            .unwrap_or(said);
        let said = headroom_policy::config::duplicate_named(&edited, offset, said);
        // An error at a table told apart by a key, moved to the field it
        // quotes; a name of the wrong type there is told the choices.
        let field = offset.and_then(|o| field_of_tagged(&edited, o, &said));
        let said = field
            .clone()
            .and_then(|s| headroom_policy::config::names_misread(&edited, s, &said, reparse))
            .unwrap_or(said);
        let offset = field.map(|s| s.start).or(offset);
        let keyable = keyable(&edited, e.span());
        parse_error(path, text, &keyable, &applied, offset, said)
    })?;
    // Serde reads a struct from an array too, its fields in order: `retry =
    // [5]` would be attempts = 5, and `retry = []` the default retry, not
    // none. Where the schema has a table, an array is refused.
    if let Some(offset) = array_for_table(&edited, &scenario) {
        let said = "invalid type: array, expected a table".to_owned();
        return Err(parse_error(
            path,
            text,
            &edited,
            &applied,
            Some(offset),
            said,
        ));
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let plan = Plan::new(&scenario, base_dir)
        .map_err(|invalid| invalid_error(path, text, &applied, invalid))?;
    // The resolved scenario has every default filled in: an open
    // workload's clients (a closed workload's users are its clients).
    let mut scenario = scenario;
    let w = &mut scenario.workload;
    if w.clients.is_none() && !matches!(w.arrivals, crate::scenario::ArrivalsConfig::Closed { .. })
    {
        w.clients = Some(crate::scenario::ClientsConfig::default());
    }
    Ok(Loaded {
        path: path.to_owned(),
        scenario,
        plan,
    })
}

fn invalid_error(
    path: &Path,
    text: &str,
    applied: &[Applied],
    mut invalid: Invalid,
) -> ScenarioError {
    if let Some(trace) = invalid.trace.take() {
        let error = invalid_error(path, text, applied, invalid);
        return ScenarioError::Trace {
            error: Box::new(error),
            trace: trace.into(),
        };
    }
    if invalid.file.is_none()
        && let Some(arg) = set_of(applied, &invalid.key)
    {
        return ScenarioError::Set {
            arg: arg.to_owned(),
            message: invalid.message(),
        };
    }
    let line_col = invalid
        .line
        .and_then(|line| usize::try_from(line).ok())
        .map(|line| (line, 1))
        .or_else(|| locate(text, &invalid.key).map(|o| line_col(text, o)));
    ScenarioError::Invalid {
        location: Location {
            file: invalid.file.clone().unwrap_or_else(|| path.to_owned()),
            line_col,
        },
        message: invalid.message(),
    }
}

/// A `--set` argument as applied: the argument, and the key it set with
/// array elements named as errors name them (by `name`, else by index).
struct Applied {
    arg: String,
    key: Vec<String>,
    /// How many of `key`'s segments name the first table the `--set` made
    /// (the file has no such table), if it made one.
    created: Option<usize>,
}

/// The last `--set` whose value holds the key at dotted path `key` (the key
/// itself, or a key inside an inline table it set), or that made the table
/// `key` names.
fn set_of<'a>(applied: &'a [Applied], key: &str) -> Option<&'a str> {
    let key = split_path(key)?;
    applied
        .iter()
        .rev()
        .find(|a| {
            let holds = key.len() >= a.key.len() && a.key.iter().zip(&key).all(|(a, k)| a == k);
            let made = a.created.is_some_and(|c| {
                (c..=a.key.len()).contains(&key.len())
                    && key.iter().zip(&a.key).all(|(k, a)| k == a)
            });
            holds || made
        })
        .map(|a| a.arg.as_str())
}

/// The last `--set` of a key inside the table at dotted path `key` whose
/// value `message` quotes. Serde reports an error in an internally tagged
/// table (a distribution: `work = { distribution = ..., mean = ... }`) at
/// the table, not at the field a `--set` gave, and the file's line for the
/// table would show a value the file does not hold.
fn set_inside<'a>(applied: &'a [Applied], key: &str, message: &str) -> Option<&'a str> {
    let key = split_path(key)?;
    applied
        .iter()
        .rev()
        .filter(|a| a.key.len() > key.len() && key.iter().zip(&a.key).all(|(k, a)| k == a))
        .find(|a| {
            let raw = a.arg.split_once('=').map_or("", |(_, v)| v.trim());
            // Strings are quoted in messages with `"`, other values with a
            // backtick (serde's `invalid type: integer `-1``).
            match parse_value(raw) {
                Value::String(v) => message.contains(&format!("{:?}", v.value())),
                v => message.contains(&format!("`{}`", v.to_string().trim())),
            }
        })
        .map(|a| a.arg.as_str())
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Byte offset of the key at the dotted, name-addressed `path` (arrays of
/// tables such as `services` are addressed by an element's `name` or index).
fn locate(text: &str, path: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let segs = split_path(path)?;
    locate_in(doc.as_table(), &segs)
}

/// A scenario's text could not be read as the schema: `said` at byte
/// `offset` of `edited` (the text after the `--set`s), located at the
/// `--set` that gave the value, or else in the file as written.
fn parse_error(
    path: &Path,
    text: &str,
    edited: &str,
    applied: &[Applied],
    offset: Option<usize>,
    said: String,
) -> ScenarioError {
    let key = offset.and_then(|o| key_path_at(edited, o));
    let message = match &key {
        Some(key) => format!("`{key}`: {said}"),
        None => said,
    };
    if let Some(arg) = key
        .as_deref()
        .and_then(|k| set_of(applied, k).or_else(|| set_inside(applied, k, &message)))
    {
        return ScenarioError::Set {
            arg: arg.to_owned(),
            message,
        };
    }
    let line_col = if applied.is_empty() {
        offset.map(|o| line_col(text, o))
    } else {
        // The offset is in the edited text; find the key in the file.
        key.as_deref()
            .and_then(|k| locate(text, k))
            .map(|o| line_col(text, o))
    };
    ScenarioError::Invalid {
        location: Location {
            file: path.to_owned(),
            line_col,
        },
        message,
    }
}

/// `text` as the key lookups can read it: an integer past `i64::MAX` at
/// `span`, which toml reads and toml_edit cannot, written over
/// (`headroom_policy::config::integer_written_over`).
fn keyable(text: &str, span: Option<std::ops::Range<usize>>) -> std::borrow::Cow<'_, str> {
    span.filter(|_| toml_edit::Document::parse(text).is_err())
        .and_then(|s| headroom_policy::config::integer_written_over(text, s))
        .map_or(text.into(), Into::into)
}

/// The byte offset in `edited` of the first array written where the parsed
/// `scenario` has a table, if any: the text and the scenario as the schema
/// resolved it are walked together.
fn array_for_table(edited: &str, scenario: &Scenario) -> Option<usize> {
    let doc = toml_edit::Document::parse(edited).ok()?;
    let resolved = toml::Table::try_from(scenario).ok()?;
    first_array_for_table(doc.as_table(), &resolved)
}

/// Where serde failed at byte `offset` of `edited` inside an array whose
/// elements it was reading as a table's fields (`instance = [1]`: "expected
/// a string", the first field's type), the array's offset: written as an
/// empty table instead, the text does not fail there as a map. An array the
/// schema wants (`order = ["a", 1]`) does, and gives `None`.
fn table_written_as_array(edited: &str, offset: usize) -> Option<usize> {
    let doc = toml_edit::Document::parse(edited).ok()?;
    let span = innermost_array_at(doc.as_table(), offset)?;
    let with_table = format!("{}{{}}{}", &edited[..span.start], &edited[span.end..]);
    // A table where the schema wants an array fails as "invalid type: map"
    // right there; anything else (it passes, fails later, or misses a
    // field) means a table belongs there.
    match toml::from_str::<Scenario>(&with_table) {
        Err(e)
            if e.span().is_some_and(|s| s.start == span.start)
                && e.message().contains("invalid type: map") =>
        {
            None
        }
        _ => Some(span.start),
    }
}

/// The span of the innermost array value that holds byte `offset`.
fn innermost_array_at(table: &dyn TableLike, offset: usize) -> Option<std::ops::Range<usize>> {
    fn in_value(value: &Value, offset: usize) -> Option<std::ops::Range<usize>> {
        let span = value.span()?;
        if !span.contains(&offset) {
            return None;
        }
        match value {
            Value::Array(a) => a.iter().find_map(|v| in_value(v, offset)).or(Some(span)),
            Value::InlineTable(t) => innermost_array_at(t, offset),
            _ => None,
        }
    }
    table.iter().find_map(|(_, item)| match item {
        Item::Value(v) => in_value(v, offset),
        Item::Table(t) => innermost_array_at(t, offset),
        Item::ArrayOfTables(a) => a.iter().find_map(|t| innermost_array_at(t, offset)),
        Item::None => None,
    })
}

fn first_array_for_table(table: &dyn TableLike, resolved: &toml::Table) -> Option<usize> {
    table.iter().find_map(|(name, item)| {
        let resolved = resolved.get(name)?;
        match (item, resolved) {
            (Item::Table(t), toml::Value::Table(r)) => first_array_for_table(t, r),
            (Item::ArrayOfTables(a), toml::Value::Array(r)) => a
                .iter()
                .zip(r)
                .find_map(|(t, r)| r.as_table().and_then(|r| first_array_for_table(t, r))),
            (Item::Value(v), r) => value_array_for_table(v, r),
            _ => None,
        }
    })
}

fn value_array_for_table(value: &Value, resolved: &toml::Value) -> Option<usize> {
    match (value, resolved) {
        (Value::Array(a), toml::Value::Table(_)) => a.span().map(|s| s.start),
        (Value::Array(a), toml::Value::Array(r)) => a
            .iter()
            .zip(r)
            .find_map(|(v, r)| value_array_for_table(v, r)),
        (Value::InlineTable(t), toml::Value::Table(r)) => first_array_for_table(t, r),
        _ => None,
    }
}

/// 1-based line and column where the sweep parameter `param`'s value
/// `value` (inline TOML) is written in `text`: the list element equal to
/// it, else the parameter's key (a range, say), else `[sweep.params]`.
/// Parameters are quoted dotted keys or nested tables, as
/// [`crate::sweep`] reads them.
pub(crate) fn sweep_value_line_col(text: &str, param: &str, value: &str) -> Option<(usize, usize)> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let (params_key, params) = doc
        .as_table()
        .get("sweep")?
        .as_table_like()?
        .get_key_value("params")?;
    let params = params.as_table_like()?;
    let entry = params.get_key_value(param).or_else(|| {
        let segs = split_path(param)?;
        let (last, outer) = segs.split_last()?;
        let mut table = params;
        for seg in outer {
            table = table.get(seg)?.as_table_like()?;
        }
        table.get_key_value(last)
    });
    let offset = match entry {
        Some((key, item)) => item
            .as_array()
            .and_then(|list| list.iter().find(|v| v.to_string().trim() == value))
            .and_then(Value::span)
            .or_else(|| key.span())
            .map(|s| s.start),
        None => params_key.span().map(|s| s.start),
    }?;
    Some(line_col(text, offset))
}

/// `key` as one segment of a dotted path: bare when it is letters, digits,
/// `_` and `-`, else quoted (`"m5.large"`), as [`split_path`] reads it.
pub fn path_segment(key: &str) -> std::borrow::Cow<'_, str> {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.into()
    } else {
        format!("\"{key}\"").into()
    }
}

/// Splits a dotted key path into its keys; a key with dots or other
/// punctuation is written in double quotes, as in TOML:
/// `policy.mesh.edges."api->db".timeout`. `None` for an empty key or an
/// unterminated quote.
pub fn split_path(path: &str) -> Option<Vec<&str>> {
    let mut segs = Vec::new();
    let mut rest = path;
    loop {
        let (seg, after) = match rest.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => match rest.find('.') {
                Some(dot) => (&rest[..dot], &rest[dot..]),
                None => (rest, ""),
            },
        };
        if seg.is_empty() {
            return None;
        }
        segs.push(seg);
        if after.is_empty() {
            return Some(segs);
        }
        rest = after.strip_prefix('.')?;
    }
}

fn locate_in(table: &dyn TableLike, segs: &[&str]) -> Option<usize> {
    let (first, rest) = segs.split_first()?;
    let (key, item) = table.get_key_value(first)?;
    let here = key.span().map(|s| s.start);
    if rest.is_empty() {
        return here;
    }
    let deeper = match item {
        Item::Table(t) => locate_in(t, rest),
        Item::Value(value) => locate_in_value(value, rest),
        Item::ArrayOfTables(array) => {
            let (element, rest) = rest.split_first()?;
            let table = seg_index(array.iter(), element).and_then(|i| array.get(i))?;
            if rest.is_empty() {
                table.span().map(|s| s.start)
            } else {
                locate_in(table, rest)
            }
        }
        _ => None,
    };
    // Fall back to the nearest enclosing key that exists.
    deeper.or(here)
}

/// [`locate_in`] inside a value: an inline table, or an inline array whose
/// element the first segment names (see [`array_index`]).
fn locate_in_value(value: &Value, segs: &[&str]) -> Option<usize> {
    match value {
        Value::InlineTable(t) => locate_in(t, segs),
        Value::Array(array) => {
            let (element, rest) = segs.split_first()?;
            let value = array_index(array, element).and_then(|i| array.get(i))?;
            let here = value.span().map(|s| s.start);
            if rest.is_empty() {
                return here;
            }
            locate_in_value(value, rest).or(here)
        }
        _ => None,
    }
}

/// serde reads a table told apart by one of its keys (a fault's `type`,
/// `arrivals.process`, a distribution) as a whole, so its errors are at the
/// table (`faults.0`), not at the key. When the table at byte `offset`
/// holds exactly one value that the message quotes (`"zzz" is not a
/// duration`, `integer \`5\``, `unknown variant \`zzz\``, an array where
/// a name is read) or one key it names (`unknown field \`zzz\``), the span
/// of that value or key, so that the key is named and located. The table's own entries are searched
/// first, then the tables inside it (a closed workload's `think`, a
/// distribution in a table told apart by its `process`). `None` otherwise.
fn field_of_tagged(edited: &str, offset: usize, said: &str) -> Option<std::ops::Range<usize>> {
    let doc = toml_edit::Document::parse(edited).ok()?;
    let key = key_path_at(edited, offset)?;
    let segs = split_path(&key)?;
    let table = table_at(doc.as_table(), &segs)?;
    let (mut own, mut inside) = (Vec::new(), Vec::new());
    quoted_in(table, said, &mut own, &mut inside);
    match (own.as_slice(), inside.as_slice()) {
        ([one], _) | ([], [one]) => Some(one.clone()),
        _ => None,
    }
}

/// The spans of the values in `table` that `said` quotes and of the keys it
/// names as unknown: `own` for `table`'s entries, `inside` for those of the
/// tables and arrays it holds, at any depth.
fn quoted_in(
    table: &dyn TableLike,
    said: &str,
    own: &mut Vec<std::ops::Range<usize>>,
    inside: &mut Vec<std::ops::Range<usize>>,
) {
    for (name, item) in table.iter() {
        let key = table.get_key_value(name).and_then(|(k, _)| k.span());
        if let Some(span) = key.filter(|_| said.contains(&format!("unknown field `{name}`"))) {
            own.push(span);
        }
        match item {
            Item::Value(v) => quoted_value(v, said, own, inside),
            Item::Table(t) => {
                let mut deeper = Vec::new();
                quoted_in(t, said, inside, &mut deeper);
                inside.append(&mut deeper);
            }
            _ => {}
        }
    }
}

/// [`quoted_in`] for one value: a scalar the message quotes goes to `own`;
/// the entries of an inline table or array go to `inside`.
fn quoted_value(
    value: &Value,
    said: &str,
    own: &mut Vec<std::ops::Range<usize>>,
    inside: &mut Vec<std::ops::Range<usize>>,
) {
    let quoted = match value {
        Value::String(s) => {
            let q = format!("{:?}", s.value());
            said.starts_with(&q)
                || said.contains(&format!("string {q}"))
                || said.contains(&format!("unknown variant `{}`", s.value()))
        }
        Value::Integer(i) => said.contains(&format!("integer `{}`", i.value())),
        // serde writes a float its own way (`1e300`, `2.0`, `NaN`).
        Value::Float(f) => [format!("{}", f.value()), format!("{:?}", f.value())]
            .iter()
            .any(|v| said.contains(&format!("floating point `{v}`"))),
        Value::Boolean(b) => said.contains(&format!("boolean `{}`", b.value())),
        // A table or an array given where a scalar is read: serde says
        // its type. Unless something inside it matches (the innermost is
        // the one), it is the value meant.
        Value::InlineTable(t) => {
            let (mut first, mut deeper) = (Vec::new(), Vec::new());
            quoted_in(t, said, &mut first, &mut deeper);
            let quoted = first.is_empty()
                && deeper.is_empty()
                && (said.contains("invalid type: table") || said.contains("invalid type: map"));
            inside.append(&mut first);
            inside.append(&mut deeper);
            quoted
        }
        Value::Array(array) => {
            let (mut first, mut deeper) = (Vec::new(), Vec::new());
            for v in array.iter() {
                quoted_value(v, said, &mut first, &mut deeper);
            }
            let quoted = first.is_empty()
                && deeper.is_empty()
                && (said.contains("invalid type: array")
                    || said.contains("invalid type: sequence"));
            inside.append(&mut first);
            inside.append(&mut deeper);
            quoted
        }
        Value::Datetime(_) => false,
    };
    if let Some(span) = value.span().filter(|_| quoted) {
        own.push(span);
    }
}

/// The table at the dotted, name-addressed `segs` (an element of an array
/// of tables by its `name` or index).
fn table_at<'a>(table: &'a dyn TableLike, segs: &[&str]) -> Option<&'a dyn TableLike> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(table);
    };
    match table.get(first)? {
        Item::Table(t) => table_at(t, rest),
        Item::Value(value) => table_in_value(value, rest),
        Item::ArrayOfTables(array) => {
            let (element, rest) = rest.split_first()?;
            let t = seg_index(array.iter(), element).and_then(|i| array.get(i))?;
            table_at(t, rest)
        }
        _ => None,
    }
}

/// [`table_at`] inside a value: an inline table, or an element of an
/// inline array.
fn table_in_value<'a>(value: &'a Value, segs: &[&str]) -> Option<&'a dyn TableLike> {
    match value {
        Value::InlineTable(t) => table_at(t, segs),
        Value::Array(array) => {
            let (element, rest) = segs.split_first()?;
            let value = array_index(array, element).and_then(|i| array.get(i))?;
            table_in_value(value, rest)
        }
        _ => None,
    }
}

/// The dotted, name-addressed key path whose key or value contains byte
/// `offset`, for naming the key in a parse error; keys that are not bare
/// quoted, as `--set` takes them (`costs.instance_types."m5.large".hourly`).
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.as_table(), offset, &mut path);
    let path: Vec<_> = path.iter().map(|seg| path_segment(seg)).collect();
    (!path.is_empty()).then(|| path.join("."))
}

fn walk(table: &dyn TableLike, offset: usize, path: &mut Vec<String>) {
    for (name, item) in table.iter() {
        let Some((key, _)) = table.get_key_value(name) else {
            continue;
        };
        if key.span().is_some_and(|s| s.contains(&offset)) {
            path.push(name.to_owned());
            return;
        }
        match item {
            Item::Value(v) if span_contains(v.span(), offset) => {
                path.push(name.to_owned());
                walk_value(v, offset, path);
                return;
            }
            Item::Table(t) if table_contains(t, offset) => {
                path.push(name.to_owned());
                walk(t, offset, path);
                return;
            }
            Item::ArrayOfTables(array) => {
                for (i, t) in array.iter().enumerate() {
                    if table_contains(t, offset) {
                        path.push(name.to_owned());
                        path.push(element_name(t).map_or_else(|| i.to_string(), str::to_owned));
                        walk(t, offset, path);
                        return;
                    }
                }
            }
            _ => {}
        }
    }
}

fn span_contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.contains(&offset))
}

/// [`walk`] inside a value that holds `offset`: an inline table, or the
/// element of an inline array that holds it, named by its `name` (inline
/// tables that have one) or its index.
fn walk_value(value: &Value, offset: usize, path: &mut Vec<String>) {
    match value {
        Value::InlineTable(t) => walk(t, offset, path),
        Value::Array(array) => {
            let found = array
                .iter()
                .enumerate()
                .find(|(_, v)| span_contains(v.span(), offset));
            if let Some((i, v)) = found {
                path.push(inline_name(v).map_or_else(|| i.to_string(), str::to_owned));
                walk_value(v, offset, path);
            }
        }
        _ => {}
    }
}

/// Whether `offset` falls in `table`'s header or any of its entries.
fn table_contains(table: &Table, offset: usize) -> bool {
    span_contains(table.span(), offset)
        || table.iter().any(|(name, item)| {
            let key_hit = table
                .key(name)
                .is_some_and(|k| span_contains(k.span(), offset));
            key_hit
                || match item {
                    Item::Value(v) => span_contains(v.span(), offset),
                    Item::Table(t) => table_contains(t, offset),
                    Item::ArrayOfTables(a) => a.iter().any(|t| table_contains(t, offset)),
                    Item::None => false,
                }
        })
}

/// Applies `--set PATH=VALUE` overrides to the document text.
///
/// `PATH` is dotted; an array of tables (`services`) is addressed by an
/// element's `name` or its index (`services.api.replicas`). `VALUE` is a TOML
/// value (`8`, `0.5`, `"5s"`, `[1, 2]`, `{ process = "poisson", rate = 5.0 }`);
/// anything that does not parse as one is taken as a string, so
/// `run.duration=5m` works without quotes. A bare `null` removes the key
/// (or an element of an array of tables), as Helm's `--set` does: TOML has
/// no null, so nothing else can mean it (the string is `"null"`, quoted).
fn apply_sets(
    path: &Path,
    text: &str,
    sets: &[String],
) -> Result<(String, Vec<Applied>), ScenarioError> {
    if sets.is_empty() {
        return Ok((text.to_owned(), Vec::new()));
    }
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let offset = e.span().map(|s| s.start);
        ScenarioError::Invalid {
            location: Location {
                file: path.to_owned(),
                line_col: offset.map(|o| line_col(text, o)),
            },
            message: headroom_policy::config::duplicate_named(
                text,
                offset,
                e.message().trim_end().to_owned(),
            ),
        }
    })?;
    let mut applied = Vec::with_capacity(sets.len());
    for arg in sets {
        let (key, created) = apply_set(&mut doc, arg).map_err(|message| ScenarioError::Set {
            arg: arg.clone(),
            message,
        })?;
        applied.push(Applied {
            arg: arg.clone(),
            key,
            created,
        });
    }
    Ok((doc.to_string(), applied))
}

/// Applies one `PATH=VALUE`; returns the key it set, array elements named as
/// in errors.
fn apply_set(doc: &mut DocumentMut, arg: &str) -> Result<(Vec<String>, Option<usize>), String> {
    let (path, raw) = arg
        .split_once('=')
        .ok_or_else(|| "expected PATH=VALUE, e.g. `services.api.replicas=4`".to_owned())?;
    let path = path.trim();
    let Some(segs) = split_path(path) else {
        return Err(format!(
            "`{path}` is not a dotted key path such as `run.duration` (quote keys with punctuation: `policy.mesh.edges.\"api->db\".timeout`)"
        ));
    };
    let change = match raw.trim() {
        "null" => Change::Remove,
        raw => Change::Set(parse_value(raw)),
    };
    let mut key = Vec::with_capacity(segs.len());
    let mut created = None;
    set_in(
        doc.as_table_mut(),
        &segs,
        change,
        path,
        &mut key,
        &mut created,
    )?;
    Ok((key, created))
}

/// What one `--set` does to its key.
enum Change {
    /// `PATH=VALUE`: sets (or adds) the key.
    Set(Value),
    /// `PATH=null`: removes the key, which must exist.
    Remove,
}

/// Sets or removes `segs` under `table`, pushing each key onto `key` (an
/// array element as its `name`, else its index).
fn set_in(
    table: &mut dyn TableLike,
    segs: &[&str],
    change: Change,
    path: &str,
    key: &mut Vec<String>,
    created: &mut Option<usize>,
) -> Result<(), String> {
    let missing = || {
        format!(
            "`{path}` does not exist in the scenario (arrays of tables such as `services` are addressed by an element's `name` or index)"
        )
    };
    let nothing_to_remove =
        || format!("`{path}` is not in the scenario, so `null` has nothing to remove");
    let (first, rest) = segs.split_first().ok_or_else(missing)?;
    key.push((*first).to_owned());
    if rest.is_empty() {
        match change {
            Change::Set(value) => match table.get_mut(first) {
                Some(existing) => *existing = Item::Value(value),
                None => {
                    table.insert(first, Item::Value(value));
                }
            },
            Change::Remove => {
                table.remove(first).ok_or_else(nothing_to_remove)?;
            }
        }
        return Ok(());
    }
    if table.get(first).is_none() {
        // A table the file leaves out (`[slo]`, `[policy.mesh]`) is made,
        // empty, so that `--set slo.p99=100ms` works on any scenario; a
        // misspelt name is then refused as an unknown field where the
        // scenario is read, and blamed on this `--set` (`created`). Not an
        // array (`calls.0`): what its elements are is not known here.
        if matches!(change, Change::Remove) {
            return Err(nothing_to_remove());
        }
        if rest[0].parse::<usize>().is_ok() {
            return Err(missing());
        }
        table.insert(first, Item::Value(Value::InlineTable(Default::default())));
        created.get_or_insert(key.len());
    }
    match table.get_mut(first).ok_or_else(missing)? {
        Item::Table(t) => set_in(t, rest, change, path, key, created),
        Item::Value(Value::InlineTable(t)) => set_in(t, rest, change, path, key, created),
        Item::ArrayOfTables(array) => {
            let (element, rest) = rest.split_first().ok_or_else(missing)?;
            let index = seg_index(array.iter(), element).ok_or_else(missing)?;
            let table = array.get_mut(index).ok_or_else(missing)?;
            key.push(element_name(table).map_or_else(|| index.to_string(), str::to_owned));
            if rest.is_empty() {
                return match change {
                    Change::Remove => {
                        array.remove(index);
                        Ok(())
                    }
                    Change::Set(_) => Err(format!(
                        "`{path}` names a whole `[[{first}]]` entry; set one of its keys instead (or remove it with `{path}=null`)"
                    )),
                };
            }
            set_in(table, rest, change, path, key, created)
        }
        Item::Value(value) => set_in_value(value, first, rest, change, path, key, created),
        _ => Err(format!("`{path}`: `{first}` is a value, not a table")),
    }
}

/// Sets or removes `segs` inside `value`, the value of key `name`: a key of
/// an inline table, or an element of an array (`services.api.calls.0.service`,
/// `...calls.1.parallel.0`), pushing each key onto `key`.
fn set_in_value(
    value: &mut Value,
    name: &str,
    segs: &[&str],
    change: Change,
    path: &str,
    key: &mut Vec<String>,
    created: &mut Option<usize>,
) -> Result<(), String> {
    let array = match value {
        Value::InlineTable(t) => return set_in(t, segs, change, path, key, created),
        Value::Array(array) => array,
        _ => return Err(format!("`{path}`: `{name}` is a value, not a table")),
    };
    let Some((element, rest)) = segs.split_first() else {
        return Err(format!("`{path}` does not exist in the scenario"));
    };
    let Some(index) = array_index(array, element) else {
        let last = array.len().checked_sub(1);
        return Err(match last {
            Some(last) => format!(
                "`{path}`: `{name}` has no element `{element}`: it is an array of {} (indices 0 to {last})",
                array.len()
            ),
            None => format!("`{path}`: `{name}` is an empty array; set the whole array instead"),
        });
    };
    let item = array.get_mut(index).expect("index of an element");
    key.push(inline_name(item).map_or_else(|| index.to_string(), str::to_owned));
    if rest.is_empty() {
        match change {
            Change::Set(mut new) => {
                // The element keeps its place's spacing in the array.
                *new.decor_mut() = item.decor().clone();
                *item = new;
            }
            Change::Remove => {
                array.remove(index);
            }
        }
        return Ok(());
    }
    set_in_value(item, element, rest, change, path, key, created)
}

/// Index of the element of an inline array that `seg` names: an inline
/// table by its `name` (or `tier`) key, or any element by its 0-based
/// index, as [`seg_index`] for arrays of tables.
fn array_index(array: &toml_edit::Array, seg: &str) -> Option<usize> {
    element_position(array.iter().map(inline_name), seg)
}

/// The `name` (or `tier`) of an inline table, as [`element_name`].
fn inline_name(value: &Value) -> Option<&str> {
    element_name(value.as_inline_table()?)
}

/// Index of the element of an array of tables that `seg` names: by its
/// `name` key (`tier` for `[[datastores.cache]]`), or by a 0-based index.
fn seg_index<'a>(tables: impl Iterator<Item = &'a Table>, seg: &str) -> Option<usize> {
    element_position(tables.map(|t| element_name(t)), seg)
}

/// Index of the element that `seg` addresses in an array whose elements
/// have `names` (`None` for an element without one): the first whose name
/// is `seg` or whose 0-based index `seg` is. The one rule of `--set` paths,
/// also for the recommendation's writer.
pub fn element_position<'a>(
    names: impl Iterator<Item = Option<&'a str>>,
    seg: &str,
) -> Option<usize> {
    let index = seg.parse::<usize>().ok();
    names
        .enumerate()
        .position(|(i, name)| name == Some(seg) || index == Some(i))
}

/// The key that names an element of an array of tables (or an inline
/// table in an array): `name`, or `tier` for cache tiers.
fn element_name(t: &dyn TableLike) -> Option<&str> {
    t.get("name")
        .or_else(|| t.get("tier"))
        .and_then(Item::as_str)
}

/// Parses a `--set` value as TOML, falling back to a plain string.
fn parse_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<DocumentMut>() {
        Ok(doc) => match doc.get("v") {
            Some(Item::Value(v)) => {
                let mut v = v.clone();
                v.decor_mut().clear();
                v
            }
            _ => Value::from(raw),
        },
        Err(_) => Value::from(raw),
    }
}

#[cfg(test)]
mod path_tests {
    use super::split_path;

    #[test]
    fn dotted_paths_split_with_quoted_keys() {
        assert_eq!(split_path("run.duration"), Some(vec!["run", "duration"]));
        assert_eq!(
            split_path("policy.mesh.edges.\"api->db\".retry.budget.ratio"),
            Some(vec![
                "policy", "mesh", "edges", "api->db", "retry", "budget", "ratio"
            ])
        );
        assert_eq!(split_path("a.\"b.c\""), Some(vec!["a", "b.c"]));
        assert_eq!(split_path("a..b"), None);
        assert_eq!(split_path("a.\"b"), None);
        assert_eq!(split_path("a.\"b\"c"), None);
        assert_eq!(split_path(""), None);
    }
}

#[cfg(test)]
mod array_set_tests {
    use std::path::Path;

    use super::load_str;

    /// api calls auth, then users and recs in parallel: steps are an
    /// inline array of inline tables, one of them holding another.
    const TEXT: &str = r#"[run]
duration = "2m"

[workload]
arrivals = { process = "poisson", rate = 400.0 }

[[services]]
name = "api"
instance = { workers = 4, queue = 20 }
work = { distribution = "exponential", mean = "8ms" }
calls = [ { service = "auth" }, { parallel = [ { service = "users" }, { service = "recs" } ] } ]
replicas = 2

[[services]]
name = "auth"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 1

[[services]]
name = "users"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 1

[[services]]
name = "recs"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 1
"#;

    fn sets(sets: &[&str]) -> Vec<String> {
        sets.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The api's steps as `service` names, a parallel step as a list.
    fn steps(extra: &[&str]) -> Vec<Vec<String>> {
        let loaded = load_str(Path::new("s.toml"), TEXT, &sets(extra)).expect("valid");
        let api = &loaded.scenario.services[0];
        api.calls
            .iter()
            .map(|step| match &step.parallel {
                Some(all) => all.iter().filter_map(|s| s.service.clone()).collect(),
                None => step.service.clone().into_iter().collect(),
            })
            .collect()
    }

    #[test]
    fn a_set_reaches_into_inline_arrays_by_index() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(steps(&[]), [s(&["auth"]), s(&["users", "recs"])]);
        // A key of an element, in a nested array too.
        assert_eq!(
            steps(&[
                "services.api.calls.0.service=users",
                "services.api.calls.1.parallel.1.service=auth",
            ]),
            [s(&["users"]), s(&["users", "auth"])]
        );
        // A whole element, replaced or removed.
        assert_eq!(
            steps(&[r#"services.api.calls.0={ service = "recs" }"#]),
            [s(&["recs"]), s(&["users", "recs"])]
        );
        assert_eq!(
            steps(&["services.api.calls.1.parallel.0=null"]),
            [s(&["auth"]), s(&["recs"])]
        );
        assert_eq!(
            steps(&["services.api.calls.0=null"]),
            [s(&["users", "recs"])]
        );
    }

    #[test]
    fn a_set_into_an_inline_array_is_refused_with_its_indices() {
        let err = |extra: &[&str]| {
            load_str(Path::new("s.toml"), TEXT, &sets(extra))
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            err(&["services.api.calls.2.service=auth"]),
            "--set services.api.calls.2.service=auth: `services.api.calls.2.service`: `calls` \
             has no element `2`: it is an array of 2 (indices 0 to 1)"
        );
        assert_eq!(
            err(&["services.api.calls.0.service.name=x"]),
            "--set services.api.calls.0.service.name=x: `services.api.calls.0.service.name`: \
             `service` is a value, not a table"
        );
        // A bad value given inside an array is named by its key and its set.
        assert_eq!(
            err(&["services.api.calls.1.parallel.0.service=7"]),
            "--set services.api.calls.1.parallel.0.service=7: \
             `services.api.calls.1.parallel.0.service`: invalid type: integer `7`, expected a \
             string"
        );
    }

    /// An error inside an inline array, in the file, names the element's
    /// key and its line and column, not the array's.
    #[test]
    fn an_error_inside_an_inline_array_names_the_elements_key() {
        let err = |text: &str| {
            load_str(Path::new("s.toml"), text, &[])
                .expect_err("invalid")
                .to_string()
        };
        let text = TEXT.replace(r#"{ service = "recs" }"#, r#"{ service = "recs", x = 1 }"#);
        let e = err(&text);
        assert!(
            e.starts_with("s.toml:11:91: `services.api.calls.1.parallel.1.x`: unknown field `x`"),
            "{e}"
        );
        let text = TEXT.replace(r#"{ service = "users" }"#, r#"{ service = "nosuch" }"#);
        let e = err(&text);
        assert!(
            e.starts_with("s.toml:11:50: `services.api.calls.1.parallel.0.service` = \"nosuch\""),
            "{e}"
        );
    }
}

#[cfg(test)]
mod set_error_tests {
    use std::path::Path;

    use super::{ScenarioError, load_str};

    const TEXT: &str = r#"[run]
duration = "2m"
replications = 4

[workload]
arrivals = { process = "poisson", rate = 400.0 }

[[services]]
name = "api"
instance = { workers = 4, queue = 20 }
work = { distribution = "exponential", mean = "8ms" }
replicas = 2
"#;

    fn error(sets: &[&str]) -> ScenarioError {
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
        load_str(Path::new("s.toml"), TEXT, &sets).expect_err("invalid")
    }

    #[test]
    fn a_bad_value_from_a_set_is_named_by_the_set() {
        // A value the checks reject.
        let e = error(&["services.0.replicas=0"]).to_string();
        assert!(
            e.starts_with("--set services.0.replicas=0: `services.api.replicas` = 0"),
            "{e}"
        );
        // A key the schema does not know, added by the set.
        let e = error(&["workload.rate=5"]).to_string();
        assert!(
            e.starts_with("--set workload.rate=5: `workload.rate`"),
            "{e}"
        );
        assert!(e.contains("unknown field `rate`"), "{e}");
        // A key inside an inline table the set gave.
        let e = error(&[r#"services.api.work={ distribution = "weibull" }"#]).to_string();
        assert!(e.starts_with("--set services.api.work="), "{e}");
        // The last set of a key is the one named.
        let e = error(&["run.replications=0", "run.replications=-1"]).to_string();
        assert!(e.starts_with("--set run.replications=-1:"), "{e}");
    }

    /// Serde reports a bad field of a distribution at its table; the key
    /// whose value it quotes is named, and the `--set` that gave the
    /// field's value is the one blamed, not the file's line for the table
    /// (which holds another value).
    #[test]
    fn a_bad_field_from_a_set_inside_a_distribution_is_named_by_the_set() {
        let e = error(&[r#"services.api.work.mean="-1ms""#]).to_string();
        assert!(
            e.starts_with(r#"--set services.api.work.mean="-1ms": `services.api.work.mean`: "#),
            "{e}"
        );
        assert!(e.contains("is not a duration"), "{e}");
        // A set inside the table whose value the error does not quote is
        // not blamed: the bad value is the file's.
        let text = TEXT.replace(r#"mean = "8ms""#, r#"mean = "-8ms""#);
        let sets = vec![r#"services.api.work.distribution="deterministic""#.to_owned()];
        let e = load_str(Path::new("s.toml"), &text, &sets)
            .expect_err("invalid")
            .to_string();
        assert!(
            e.starts_with("s.toml:11:40: `services.api.work.mean`"),
            "{e}"
        );
        assert!(e.contains(r#""-8ms""#), "{e}");
    }

    /// A table told apart by a key (a distribution, here) is read as a
    /// whole: its errors name the key whose value the message quotes.
    #[test]
    fn a_bad_value_in_a_tagged_table_is_named_by_its_key() {
        let text = TEXT.replace("mean = \"8ms\"", "mean = 8");
        let err = load_str(Path::new("s.toml"), &text, &[]).expect_err("invalid");
        assert!(
            err.to_string().starts_with(
                "s.toml:11:47: `services.api.work.mean`: invalid type: integer `8`, expected a \
                 duration"
            ),
            "{err}"
        );
        let text = TEXT.replace("mean = \"8ms\"", "mean = \"8\"");
        let err = load_str(Path::new("s.toml"), &text, &[]).expect_err("invalid");
        assert!(
            err.to_string()
                .starts_with("s.toml:11:47: `services.api.work.mean`: \"8\" is not a duration"),
            "{err}"
        );
    }

    /// A key that is not bare (an instance type `m5.large`) is named
    /// quoted, as `--set` takes it: the error is the `--set`'s that gave the
    /// value, and a value in the file is located at its own line and column
    /// (the unquoted path named other keys, found neither).
    #[test]
    fn a_bad_value_under_a_key_that_is_not_bare_is_named_quoted() {
        let priced = format!(
            "{TEXT}\n[costs]\ninstance_types = {{ \"m5.large\" = {{ vcpu = 2, memory = \"8GiB\", \
             hourly = 0.096 }} }}\n"
        );
        let key = r#"costs.instance_types."m5.large""#;
        for (set, message) in [
            (
                format!(r#"{key}.hourly="abc""#),
                format!(r#"`{key}.hourly`: invalid type: string "abc", expected a number"#),
            ),
            (
                format!("{key}.bogus=1"),
                format!(
                    "`{key}.bogus`: unknown field `bogus`, expected one of `vcpu`, `memory`, \
                     `hourly`"
                ),
            ),
        ] {
            let e = load_str(Path::new("s.toml"), &priced, std::slice::from_ref(&set))
                .expect_err("invalid")
                .to_string();
            assert_eq!(e, format!("--set {set}: {message}"));
        }
        let text = priced.replace("hourly = 0.096", "hourly = \"x\"");
        let e = load_str(Path::new("s.toml"), &text, &[])
            .expect_err("invalid")
            .to_string();
        let (line, column) = super::line_col(&text, text.find("\"x\"").unwrap());
        assert_eq!(
            e,
            format!(
                "s.toml:{line}:{column}: `{key}.hourly`: invalid type: string \"x\", expected a number"
            )
        );
    }

    /// A table told apart by a key inside another one (a closed workload's
    /// `think` distribution, inside `arrivals` told apart by its `process`):
    /// the error is at the outer table, and is moved to the field it quotes
    /// or names, with the choices where a name had the wrong type.
    #[test]
    fn a_bad_value_in_a_tagged_table_inside_another_is_named_by_its_key() {
        let closed = r#"arrivals = { process = "closed", users = 10, think = { distribution = "exponential", mean = "7s" } }"#;
        let text = TEXT.replace(
            r#"arrivals = { process = "poisson", rate = 400.0 }"#,
            closed,
        );
        let said = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
            load_str(Path::new("s.toml"), &text, &sets)
                .expect_err("invalid")
                .to_string()
        };
        let choices = "expected one of `exponential`, `deterministic`, `uniform`, `lognormal`, \
                       `pareto`, `empirical`";
        for (set, message) in [
            (
                "workload.arrivals.think.distribution=nan",
                format!("invalid type: floating point `nan`, {choices}"),
            ),
            (
                r#"workload.arrivals.think.distribution="zzz""#,
                format!("unknown variant `zzz`, {choices}"),
            ),
            (
                "workload.arrivals.think.zzz=1",
                "unknown field `zzz`, expected `mean`".to_owned(),
            ),
            // A table inside the table given: the innermost is named.
            (
                "workload.arrivals.think.distribution={}",
                format!("invalid type: table, {choices}"),
            ),
            (
                r#"workload.arrivals.think.distribution=[1, "x"]"#,
                format!("invalid type: array, {choices}"),
            ),
        ] {
            let key = set.split_once('=').unwrap().0;
            assert_eq!(said(&[set]), format!("--set {set}: `{key}`: {message}"));
        }
        let e = said(&[r#"workload.arrivals.think.mean="7""#]);
        assert!(
            e.starts_with(r#"--set workload.arrivals.think.mean="7": `workload.arrivals.think.mean`: "7" is not a duration"#),
            "{e}"
        );
        // In the file, the key's own line and column.
        let text = text.replace(r#"mean = "7s""#, "mean = 7");
        let e = load_str(Path::new("s.toml"), &text, &[])
            .expect_err("invalid")
            .to_string();
        assert!(
            e.starts_with("s.toml:6:93: `workload.arrivals.think.mean`: invalid type: integer `7`"),
            "{e}"
        );
        // Written as tables of their own, not inline.
        let tables = "[workload.arrivals]\nprocess = \"closed\"\nusers = 10\n\n\
                      [workload.arrivals.think]\ndistribution = 1\nmean = \"7s\"\n";
        let text = TEXT.replace(
            "[workload]\narrivals = { process = \"poisson\", rate = 400.0 }\n",
            tables,
        );
        assert!(text.contains("distribution = 1"));
        let e = load_str(Path::new("s.toml"), &text, &[])
            .expect_err("invalid")
            .to_string();
        assert_eq!(
            e,
            format!(
                "s.toml:10:16: `workload.arrivals.think.distribution`: invalid type: integer `1`, \
                 {choices}"
            )
        );
    }

    #[test]
    fn a_duplicate_key_is_named() {
        let text = TEXT.replace("replications = 4", "replications = 4\nreplications = 5");
        for sets in [&[][..], &["run.seed=3".to_owned()][..]] {
            let err = load_str(Path::new("s.toml"), &text, sets).expect_err("invalid");
            assert_eq!(
                err.to_string(),
                "s.toml:4:1: duplicate key `replications`: each key is given once in its table"
            );
        }
    }

    /// toml reads integers up to u64::MAX, toml_edit only to i64::MAX: the
    /// key of such a value is still named.
    #[test]
    fn an_integer_past_i64_is_named_by_its_key() {
        let text = TEXT.replace("workers = 4", "workers = 18446744073709551615");
        let err = load_str(Path::new("s.toml"), &text, &[]).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "s.toml:10:24: `services.api.instance.workers`: invalid value: integer \
             `18446744073709551615`, expected a whole number from 0 to 4294967295"
        );
    }

    /// A key that takes one of a few names, given another type, names the
    /// choices (toml alone says "wanted string or table"), in the file as
    /// in a `--set`; a key that takes a table keeps its own message.
    #[test]
    fn a_name_of_the_wrong_type_lists_the_choices() {
        for (value, found) in [
            ("true", "boolean `true`"),
            ("[]", "array"),
            ("{}", "table"),
            ("3", "integer `3`"),
        ] {
            let set = format!("services.api.instance.model={value}");
            assert_eq!(
                error(&[&set]).to_string(),
                format!(
                    "--set {set}: `services.api.instance.model`: invalid type: {found}, \
                     expected `threads` or `event-loop`"
                )
            );
        }
        let text = TEXT.replace("queue = 20", "queue = 20, model = false");
        let err = load_str(Path::new("s.toml"), &text, &[]).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "s.toml:10:47: `services.api.instance.model`: invalid type: boolean `false`, \
             expected `threads` or `event-loop`"
        );
        assert_eq!(
            error(&["services.api.instance=[]"]).to_string(),
            "--set services.api.instance=[]: `services.api.instance`: invalid type: array, \
             expected a table"
        );
    }

    /// Serde's names of number types come out in words
    /// (`headroom_policy::config::in_words`).
    #[test]
    fn number_types_are_said_in_words() {
        let e = error(&["services.api.replicas=1.5"]).to_string();
        assert!(
            e.ends_with(
                "invalid type: floating point `1.5`, expected a whole number from 0 to 4294967295"
            ),
            "{e}"
        );
    }

    /// Serde would read an array as a table's fields in order (`retry =
    /// [5]` as 5 attempts, `retry = []` as the default retry, not none):
    /// where the schema has a table, an array is refused, in the file or
    /// from a `--set`.
    #[test]
    fn an_array_where_a_table_belongs_is_refused() {
        let policy = "\n[policy.mesh]\nretry = [5]\n";
        let e = load_str(Path::new("s.toml"), &format!("{TEXT}{policy}"), &[])
            .expect_err("invalid")
            .to_string();
        assert_eq!(
            e,
            "s.toml:15:9: `policy.mesh.retry`: invalid type: array, expected a table"
        );
        let e = error(&["services.api.instance=[]"]).to_string();
        assert_eq!(
            e,
            "--set services.api.instance=[]: `services.api.instance`: invalid type: array, \
             expected a table"
        );
        // An array whose elements serde fails to read as the table's fields
        // (it said "expected a string", the first field's type), in the
        // file or from a `--set`.
        let policy = "\n[policy.mesh]\nretry = [\"x\"]\n";
        let e = load_str(Path::new("s.toml"), &format!("{TEXT}{policy}"), &[])
            .expect_err("invalid")
            .to_string();
        assert_eq!(
            e,
            "s.toml:15:9: `policy.mesh.retry`: invalid type: array, expected a table"
        );
        for set in ["services.api.instance=[1]", "services.api.work=[1, 2]"] {
            let e = error(&[set]).to_string();
            assert!(e.ends_with("invalid type: array, expected a table"), "{e}");
        }
        // An array the schema wants keeps serde's word on its element.
        let e = error(&["services.api.calls=[1]"]).to_string();
        assert!(
            e.ends_with("invalid type: integer `1`, expected a table"),
            "{e}"
        );
        // A table there is read as before.
        let sets = ["policy.mesh.retry={ attempts = 2 }".to_owned()];
        assert!(
            load_str(
                Path::new("s.toml"),
                &format!("{TEXT}\n[policy.mesh]\n"),
                &sets
            )
            .is_ok()
        );
    }

    /// A `--set` under a table the file leaves out makes it: the same plan
    /// as the file with the table. A misspelt table or key is refused and
    /// blamed on the `--set`; an array element or a removal is not made.
    #[test]
    fn a_set_makes_the_tables_the_file_leaves_out() {
        let with = |extra: &str| {
            load_str(Path::new("s.toml"), &format!("{TEXT}{extra}"), &[])
                .unwrap()
                .plan
        };
        let set = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
            load_str(Path::new("s.toml"), TEXT, &sets)
        };
        assert_eq!(
            set(&["policy.mesh.timeout=1s", "slo.p99=100ms"])
                .unwrap()
                .plan,
            with("\n[policy.mesh]\ntimeout = \"1s\"\n\n[slo]\np99 = \"100ms\"\n")
        );
        let e = error(&["polcy.mesh.timeout=1s"]).to_string();
        assert!(
            e.starts_with("--set polcy.mesh.timeout=1s: `polcy`: unknown field `polcy`"),
            "{e}"
        );
        let e = error(&["policy.mseh.timeout=1s"]).to_string();
        assert!(
            e.starts_with("--set policy.mseh.timeout=1s: `policy.mseh`: unknown field `mseh`"),
            "{e}"
        );
        let e = error(&["slo.p99=soon"]).to_string();
        assert!(
            e.starts_with("--set slo.p99=soon: `slo.p99`: \"soon\""),
            "{e}"
        );
        let e = error(&["services.api.calls.0.service=auth"]).to_string();
        assert!(e.contains("does not exist in the scenario"), "{e}");
        let e = error(&["slo.p99=null"]).to_string();
        assert!(
            e.contains("`slo.p99` is not in the scenario, so `null` has nothing to remove"),
            "{e}"
        );
    }

    /// `PATH=null` removes a key or an array-of-tables element, as if the
    /// file did not have it; a key that is not there is an error; `"null"`
    /// quoted is the string.
    #[test]
    fn null_removes_a_key_or_an_element() {
        let load = |text: &str, sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
            load_str(Path::new("s.toml"), text, &sets)
        };
        let without = load(&TEXT.replace("replications = 4\n", ""), &[]).unwrap();
        let removed = load(TEXT, &["run.replications=null"]).unwrap();
        assert_eq!(removed.plan, without.plan);

        let two = format!(
            "{TEXT}\n[[services]]\nname = \"db\"\ninstance = {{ workers = 2 }}\nwork = {{ distribution = \"exponential\", mean = \"1ms\" }}\nreplicas = 1\n"
        );
        let one = load(&two, &["services.db=null"]).unwrap();
        assert_eq!(one.plan, load(TEXT, &[]).unwrap().plan);
        let e = load(&two, &["services.db=2"]).unwrap_err().to_string();
        assert!(e.contains("or remove it with `services.db=null`"), "{e}");

        let e = error(&["run.seed=null"]).to_string();
        assert!(
            e.starts_with("--set run.seed=null: `run.seed` is not in the scenario"),
            "{e}"
        );
        let e = error(&["services.api.replicas=null"]).to_string();
        assert!(e.contains("autoscaler"), "{e}");
        let e = error(&[r#"run.duration="null""#]).to_string();
        assert!(
            e.starts_with(r#"--set run.duration="null": "#) && !e.contains("remove"),
            "{e}"
        );
    }

    #[test]
    fn an_error_elsewhere_is_located_in_the_file_as_written() {
        // The set inserts a key above the bad one; the line is still the
        // file's.
        let text = TEXT.replace("replicas = 2", "replicas = 0");
        let sets = vec!["run.seed=3".to_owned()];
        let e = load_str(Path::new("s.toml"), &text, &sets)
            .expect_err("invalid")
            .to_string();
        assert!(
            e.starts_with("s.toml:12:1: `services.api.replicas` = 0"),
            "{e}"
        );
        let e = load_str(Path::new("s.toml"), &text, &[])
            .expect_err("invalid")
            .to_string();
        assert!(
            e.starts_with("s.toml:12:1: `services.api.replicas` = 0"),
            "{e}"
        );
    }

    #[test]
    fn an_unreadable_file_names_its_error_once() {
        let e = super::load(Path::new("/nonexistent/s.toml"), &[]).expect_err("missing");
        // Not also a `source`, which a printed error chain would repeat.
        assert!(std::error::Error::source(&e).is_none());
        let text = e.to_string();
        assert_eq!(text.matches("os error").count(), 1, "{text}");
    }
}
