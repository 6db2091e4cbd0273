//! Locations in a TOML text: line and column of a byte offset, the dotted
//! key path at an offset, and the offset of a dotted key path. Used only to
//! make config errors point at the right place.

use toml_edit::{Document, Item, Table, TableLike, Value};

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted key path (`sidecar.upstreams[0].endpoints[1].url`) of the
/// innermost key or value containing byte `offset`.
pub fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let doc = Document::parse(text).ok()?;
    let mut path = String::new();
    walk_table(doc.as_table(), offset, &mut path);
    (!path.is_empty()).then_some(path)
}

/// Byte offset of the value at dotted `path` (as [`key_path_at`] writes
/// them; quoted segments such as `routes."/api/*"` are accepted), or of its
/// deepest existing parent.
pub fn locate(text: &str, path: &str) -> Option<usize> {
    let doc = Document::parse(text).ok()?;
    let mut best = None;
    let mut item = doc.as_item();
    for segment in segments(path) {
        let next = match (segment.parse::<usize>(), item) {
            (Ok(i), Item::ArrayOfTables(a)) => a.get(i).map(|t| (t.span(), None)),
            (Ok(i), Item::Value(Value::Array(a))) => a.get(i).map(|v| (v.span(), None)),
            _ => item.as_table_like().and_then(|t| {
                let (key, child) = t.get_key_value(&segment)?;
                Some((child.span(), key.span()))
            }),
        };
        let Some((span, key_span)) = next else { break };
        best = key_span.or(span).map(|s| s.start).or(best);
        let child = match segment.parse::<usize>() {
            Ok(i) => item.get(i),
            Err(_) => item.get(&segment),
        };
        match child {
            Some(child) => item = child,
            None => break,
        }
    }
    best
}

/// Where serde failed at byte `offset` of `text` inside an array whose
/// elements it was reading as a table's fields (`retry = ["x"]`), the
/// array's offset: `fails_as_map(edited, start)` says whether the text with
/// that array written as an empty table fails right there as
/// "invalid type: map" (the schema wants an array: `None`).
pub fn table_written_as_array(
    text: &str,
    offset: usize,
    fails_as_map: impl Fn(&str, usize) -> bool,
) -> Option<usize> {
    let doc = Document::parse(text).ok()?;
    let span = innermost_array_at(doc.as_table(), offset)?;
    let with_table = format!("{}{{}}{}", &text[..span.start], &text[span.end..]);
    (!fails_as_map(&with_table, span.start)).then_some(span.start)
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

/// Byte offset of the first array written in `text` where `resolved` (the
/// parsed config, serialized back) has a table. Serde reads a struct from an
/// array too, its fields in order (`retry = [5]` as 5 attempts, `retry = []`
/// as the default retry), so the loader refuses one there.
pub fn array_for_table(text: &str, resolved: &toml::Table) -> Option<usize> {
    let doc = Document::parse(text).ok()?;
    first_array_for_table(doc.as_table(), resolved)
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

/// Splits `a.b."c.d"[2].e` into `a`, `b`, `c.d`, `2`, `e`.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in path.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' | '[' | ']' if !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn push_key(path: &mut String, name: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        path.push_str(name);
    } else {
        path.push_str(&format!("{name:?}"));
    }
}

fn contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.contains(&offset))
}

fn walk_table(table: &dyn TableLike, offset: usize, path: &mut String) {
    for (name, item) in table.iter() {
        let key_hit = table
            .get_key_value(name)
            .is_some_and(|(k, _)| contains(k.span(), offset));
        if key_hit {
            push_key(path, name);
            return;
        }
        match item {
            Item::Table(t) if table_contains(t, offset) => {
                push_key(path, name);
                walk_table(t, offset, path);
                return;
            }
            Item::ArrayOfTables(array) => {
                for (i, t) in array.iter().enumerate() {
                    if table_contains(t, offset) {
                        push_key(path, name);
                        path.push_str(&format!("[{i}]"));
                        walk_table(t, offset, path);
                        return;
                    }
                }
            }
            Item::Value(v) if contains(v.span(), offset) => {
                push_key(path, name);
                walk_value(v, offset, path);
                return;
            }
            _ => {}
        }
    }
}

fn walk_value(value: &Value, offset: usize, path: &mut String) {
    match value {
        Value::InlineTable(t) => walk_table(t, offset, path),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                if contains(v.span(), offset) {
                    path.push_str(&format!("[{i}]"));
                    walk_value(v, offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Whether `offset` falls in `table`'s header or any of its entries.
fn table_contains(table: &Table, offset: usize) -> bool {
    contains(table.span(), offset)
        || table.iter().any(|(name, item)| {
            let key_hit = table.key(name).is_some_and(|k| contains(k.span(), offset));
            key_hit
                || match item {
                    Item::Value(v) => contains(v.span(), offset),
                    Item::Table(t) => table_contains(t, offset),
                    Item::ArrayOfTables(a) => a.iter().any(|t| table_contains(t, offset)),
                    Item::None => false,
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[sidecar]\nlisten = \"x\"\n[[sidecar.upstreams]]\nname = \"a\"\n\
                        endpoints = [{ url = \"u\" }, { url = \"v\" }]\n\
                        [sidecar.routes]\n\"/api/*\" = \"a\"\n";

    #[test]
    fn paths_and_offsets_agree() {
        let at = TEXT.find("\"v\"").unwrap();
        let path = key_path_at(TEXT, at).unwrap();
        assert_eq!(path, "sidecar.upstreams[0].endpoints[1].url");
        assert_eq!(line_col(TEXT, at), (5, 37));
        let found = locate(TEXT, &path).unwrap();
        assert_eq!(&TEXT[found..found + 3], "url");
        let route = locate(TEXT, "sidecar.routes.\"/api/*\"").unwrap();
        assert_eq!(line_col(TEXT, route).0, 7);
        assert_eq!(
            key_path_at(TEXT, TEXT.find("\"/api").unwrap()).unwrap(),
            "sidecar.routes.\"/api/*\""
        );
    }
}
