//! The readers on the shipped sample traces with random damage (cells
//! replaced by odd values, lines cut, dropped, shuffled or inserted; bytes
//! of the binary format flipped or cut): reading never panics, and every
//! refusal is one line. A failure prints the case number, which seeds its
//! damage.

use std::io::Cursor;
use std::path::Path;

use headroom_traces::{CheckOptions, Checked, open};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

const ODD: [&str; 16] = [
    "",
    "-1",
    "0",
    "nan",
    "inf",
    "1e308",
    "99999999999999999999",
    "abc",
    "1,2",
    "\"",
    "\u{0}",
    "é",
    "-0",
    " 5",
    "2023-13-45 99:99:99",
    "18446744073709551615",
];

fn samples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The first `n` lines of a sample text trace.
fn head(rel: &str, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(samples().join(rel)).unwrap();
    text.lines().take(n).map(str::to_owned).collect()
}

fn damage_lines(lines: &[String], rng: &mut Pcg64) -> Vec<u8> {
    let mut lines = lines.to_vec();
    for _ in 0..1 + rng.random_range(0..3) {
        if lines.is_empty() {
            break;
        }
        let i = rng.random_range(0..lines.len());
        match rng.random_range(0..6) {
            0 => {
                lines.remove(i);
            }
            1 => lines.insert(i, ODD[rng.random_range(0..ODD.len())].to_owned()),
            2 | 3 => {
                let mut cells: Vec<String> = lines[i].split(',').map(str::to_owned).collect();
                let j = rng.random_range(0..cells.len());
                cells[j] = ODD[rng.random_range(0..ODD.len())].to_owned();
                lines[i] = cells.join(",");
            }
            4 => {
                let cut = lines[i].floor_char_boundary(rng.random_range(0..lines[i].len() + 1));
                lines[i].truncate(cut);
            }
            _ => {
                let j = rng.random_range(0..lines.len());
                lines.swap(i, j);
            }
        }
    }
    lines.join("\n").into_bytes()
}

fn damage_bytes(bytes: &[u8], rng: &mut Pcg64) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for _ in 0..1 + rng.random_range(0..4) {
        if bytes.is_empty() {
            break;
        }
        match rng.random_range(0..3) {
            0 => {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random::<u8>();
            }
            1 => bytes.truncate(rng.random_range(0..bytes.len() + 1)),
            _ => {
                let i = rng.random_range(0..bytes.len());
                bytes.insert(i, rng.random::<u8>());
            }
        }
    }
    bytes
}

/// Opens and reads `bytes` to the end or the first error; an error must be
/// one line.
fn read(case: u64, name: &str, bytes: Vec<u8>, skip_bad_rows: bool) -> usize {
    let refused = |e: &dyn std::fmt::Display| {
        let said = e.to_string();
        assert!(
            !said.is_empty() && !said.contains('\n'),
            "case {case}: {said:?}"
        );
    };
    let opened = match open(Box::new(Cursor::new(bytes)), name, None, "") {
        Ok(o) => o,
        Err(e) => {
            refused(&e);
            return 0;
        }
    };
    let options = CheckOptions {
        skip_bad_rows,
        sort_window_ns: None,
    };
    let mut records = 0;
    for item in Checked::new(opened.source, options) {
        match item {
            Ok(_) => records += 1,
            Err(e) => {
                refused(&e);
                break;
            }
        }
    }
    records
}

#[test]
fn damaged_sample_traces_are_read_or_refused_in_one_line() {
    let texts = [
        (
            "AzureLLMInferenceTrace_code.csv",
            head(
                "azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv",
                200,
            ),
        ),
        (
            "cloudPhysicsIO.csv",
            head("cloudphysics-io/cloudPhysicsIO.csv", 200),
        ),
        (
            "requests.csv",
            ["minute_index,requests", "0,42", "1,62", "2,51", "3,40"]
                .map(str::to_owned)
                .to_vec(),
        ),
    ];
    let binary = std::fs::read(samples().join("cloudphysics-io/cloudPhysicsIO.oracleGeneral.bin"))
        .unwrap()[..24 * 200]
        .to_vec();
    let mut read_some = 0;
    for case in 0..1200u64 {
        let mut rng = Pcg64::seed_from_u64(case);
        let skip = rng.random_range(0..2) == 0;
        let pick = rng.random_range(0..texts.len() + 1);
        let records = match texts.get(pick) {
            Some((name, lines)) => read(case, name, damage_lines(lines, &mut rng), skip),
            None => read(
                case,
                "cloudPhysicsIO.oracleGeneral.bin",
                damage_bytes(&binary, &mut rng),
                skip,
            ),
        };
        read_some += usize::from(records > 0);
    }
    // Damage is local: many cases still read records before refusing.
    assert!(read_some > 300, "{read_some} cases read records");
}
