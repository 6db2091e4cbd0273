//! `report.html`: one self-contained page a planner can attach to a review:
//! the summary (recommendation, runners-up, parameter effects, frontier,
//! points), every chart as inline SVG, and the recommended scenario. No
//! scripts, no external files.

use std::fmt::Write as _;

use anyhow::Context as _;

use crate::commands::plot::sweep_data;
use crate::planner::analysis::Analysis;
use crate::planner::{recommendation, summary};
use crate::plot::charts::charts;

/// Renders `report.html`.
pub fn render(a: &Analysis<'_>) -> anyhow::Result<String> {
    let title = std::path::Path::new(&a.part.manifest.scenario_file)
        .file_name()
        .map_or_else(
            || "headroom".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Headroom sweep: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let md = summary::render(a);
    let (head, rest) = md
        .split_once("## Parameters ranked by effect")
        .unwrap_or((&md, ""));
    s.push_str(&markdown(head));
    let data = sweep_data(a, title);
    let (charts, skipped) = charts(&data);
    s.push_str("<h2>Charts</h2>\n");
    for chart in &charts {
        let svg = crate::plot::svg(chart)?;
        let _ = writeln!(s, "<figure>{svg}</figure>");
    }
    if !skipped.is_empty() {
        s.push_str("<p class=\"note\">Not drawn: ");
        s.push_str(&escape(&skipped.join("; ")));
        s.push_str(".</p>\n");
    }
    if !rest.is_empty() {
        s.push_str(&markdown(&format!("## Parameters ranked by effect{rest}")));
    }
    match a.ranking.best() {
        Some(best) => {
            let text = recommendation::render(&a.part.manifest, &a.points, best, &a.slo)?;
            s.push_str("<h2>recommendation.toml</h2>\n<pre>");
            s.push_str(&escape(&text));
            s.push_str("</pre>\n");
        }
        None => {
            // The manifest keeps the scenario as JSON, where an absent
            // option is `null`, which TOML cannot write: print it through
            // the scenario type, as `headroom check` does.
            let base: headroom_models::Scenario =
                serde_json::from_value(a.part.manifest.identity.scenario.clone())
                    .context("the manifest's scenario does not parse")?;
            let scenario =
                toml::to_string_pretty(&base).context("cannot print the base scenario")?;
            s.push_str("<h2>Base scenario</h2>\n<pre>");
            s.push_str(&escape(&scenario));
            s.push_str("</pre>\n");
        }
    }
    let _ = write!(
        s,
        "<p class=\"note\">headroom {} · sweep {} · files beside this one: runs, points, frontier, summary.md, manifest.json</p>\n</body>\n</html>\n",
        escape(&a.part.manifest.identity.headroom_version),
        escape(&a.part.manifest.sweep_id)
    );
    Ok(s)
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:0.8em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px}\
th{background:#f3f3f3}td.r,th.r{text-align:right}code{background:#f3f3f3;padding:0 3px;border-radius:3px}\
pre{background:#f7f7f7;border:1px solid #ddd;padding:0.8em;overflow-x:auto;font-size:0.85em}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}.note{color:#666;font-size:0.9em}";

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Inline markdown: `code` and **bold**, on escaped text.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, bit) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<strong>{bit}</strong>");
                } else {
                    out.push_str(bit);
                }
            }
        }
    }
    out
}

/// The subset of markdown `summary.md` uses: headings, paragraphs, bullet
/// lists and pipe tables (alignment row honoured for right alignment).
pub fn markdown(md: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(h) = line.strip_prefix("## ") {
            let _ = writeln!(out, "<h2>{}</h2>", inline(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = writeln!(out, "<h1>{}</h1>", inline(h));
        } else if line.starts_with('|') {
            let start = i;
            while i < lines.len() && lines[i].starts_with('|') {
                i += 1;
            }
            table(&lines[start..i], &mut out);
            continue;
        } else if line.starts_with("- ") {
            out.push_str("<ul>\n");
            while i < lines.len() && lines[i].starts_with("- ") {
                let _ = writeln!(out, "<li>{}</li>", inline(&lines[i][2..]));
                i += 1;
            }
            out.push_str("</ul>\n");
            continue;
        } else if !line.trim().is_empty() {
            let _ = writeln!(out, "<p>{}</p>", inline(line));
        }
        i += 1;
    }
    out
}

fn cells(row: &str) -> Vec<&str> {
    let row = row.trim().trim_start_matches('|').trim_end_matches('|');
    row.split('|').map(str::trim).collect()
}

fn table(rows: &[&str], out: &mut String) {
    let Some((header, rest)) = rows.split_first() else {
        return;
    };
    let (align, body) = match rest.split_first() {
        Some((a, body)) if a.contains("---") => (cells(a), body),
        _ => (Vec::new(), rest),
    };
    let right = |j: usize| {
        align
            .get(j)
            .is_some_and(|a| a.ends_with(':') && !a.starts_with(':'))
    };
    out.push_str("<table>\n<tr>");
    for (j, h) in cells(header).iter().enumerate() {
        let class = if right(j) { " class=\"r\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", inline(h));
    }
    out.push_str("</tr>\n");
    for row in body {
        out.push_str("<tr>");
        for (j, c) in cells(row).iter().enumerate() {
            let class = if right(j) { " class=\"r\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", inline(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_subset_to_html() {
        let html = markdown(
            "# T <x>\n\nSome `a = 1` and **bold**.\n\n- one\n- two\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n",
        );
        assert!(html.contains("<h1>T &lt;x&gt;</h1>"), "{html}");
        assert!(
            html.contains("<p>Some <code>a = 1</code> and <strong>bold</strong>.</p>"),
            "{html}"
        );
        assert!(
            html.contains("<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><th>a</th><th class=\"r\">b</th></tr>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><td>1</td><td class=\"r\">2</td></tr>"),
            "{html}"
        );
    }
}
