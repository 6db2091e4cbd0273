//! libCacheSim's `oracleGeneral` binary trace.
//!
//! Little-endian packed 24-byte records, no header (libCacheSim
//! `traceReader/customizedReader/oracle/oracleGeneralBin.h`):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u32 | `clock_time`, seconds |
//! | 4 | u64 | `obj_id` |
//! | 12 | u32 | `obj_size`, bytes |
//! | 16 | i64 | `next_access_vtime` (index of the next request for the object, -1 = never) |
//!
//! A record becomes a read of `obj_id` with `obj_size` bytes at
//! `clock_time` seconds; `next_access_vtime` is ignored. The reader holds one
//! 64 KiB buffer. A file whose length is not a multiple of 24 ends in a
//! [`TraceError::Truncated`] error naming the record and byte offset.

use std::io::{ErrorKind, Read};

use headroom_policy::time::Timestamp;

use crate::{Names, Record, Source, TraceError};

/// Bytes per record.
pub const RECORD_LEN: usize = 24;

const BUFFER_RECORDS: usize = 2730;

/// Streams records from an `oracleGeneral` trace.
pub struct OracleReader<R: Read> {
    input: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    records: u64,
    eof: bool,
    names: Names,
}

impl<R: Read> OracleReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        OracleReader {
            input,
            buf: vec![0; RECORD_LEN * BUFFER_RECORDS].into_boxed_slice(),
            start: 0,
            end: 0,
            records: 0,
            eof: false,
            names: Names::new(),
        }
    }

    /// Refills the buffer until it holds a whole record or the input ends.
    fn fill(&mut self) -> Result<(), TraceError> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while self.end < RECORD_LEN && !self.eof {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Read ahead while there is room, so most calls parse from memory.
        while !self.eof && self.end + RECORD_LEN * 64 <= self.buf.len() {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            if self.end - self.start >= RECORD_LEN * 1024 {
                break;
            }
        }
        Ok(())
    }

    /// The next record, `Ok(None)` at the end.
    ///
    /// # Errors
    /// [`TraceError::Truncated`] for a partial last record; I/O errors.
    #[inline]
    pub fn read(&mut self) -> Result<Option<Record>, TraceError> {
        if self.end - self.start < RECORD_LEN {
            self.fill()?;
            let left = self.end - self.start;
            if left == 0 {
                return Ok(None);
            }
            if left < RECORD_LEN {
                let record = self.records + 1;
                self.start = self.end;
                return Err(TraceError::Truncated {
                    record,
                    offset: self.records * RECORD_LEN as u64,
                    got: left,
                    record_len: RECORD_LEN,
                });
            }
        }
        let r: &[u8; RECORD_LEN] = self.buf[self.start..self.start + RECORD_LEN]
            .try_into()
            .expect("slice of RECORD_LEN bytes");
        self.start += RECORD_LEN;
        self.records += 1;
        let clock_s = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
        let obj_id = u64::from_le_bytes([r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]]);
        let obj_size = u32::from_le_bytes([r[12], r[13], r[14], r[15]]);
        Ok(Some(Record::new(
            Timestamp::from_nanos(u64::from(clock_s) * 1_000_000_000),
            obj_id,
            u64::from(obj_size),
        )))
    }
}

impl<R: Read> Source for OracleReader<R> {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        OracleReader::read(self)
    }

    fn row(&self) -> u64 {
        self.records
    }

    fn names(&self) -> &Names {
        &self.names
    }
}

impl<R: Read> Iterator for OracleReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read().transpose()
    }
}

/// Encodes one record (for writing test traces and converting): clock time
/// in whole seconds (truncated, saturating at `u32::MAX`), key, size
/// (saturating at `u32::MAX`) and `next_access_vtime`.
pub fn encode(record: &Record, next_access_vtime: i64) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    let secs = u32::try_from(record.at.as_nanos() / 1_000_000_000).unwrap_or(u32::MAX);
    let size = u32::try_from(record.size_bytes).unwrap_or(u32::MAX);
    out[0..4].copy_from_slice(&secs.to_le_bytes());
    out[4..12].copy_from_slice(&record.key.to_le_bytes());
    out[12..16].copy_from_slice(&size.to_le_bytes());
    out[16..24].copy_from_slice(&next_access_vtime.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `chunk` bytes per call.
    struct Dribble<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn trace(n: u64) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let r = Record::new(Timestamp::from_nanos(i * 3_000_000_000), i * 11, 4096 + i);
                encode(&r, -1)
            })
            .collect()
    }

    #[test]
    fn decodes_records_whatever_the_read_sizes() {
        let bytes = trace(10_000);
        for chunk in [1, 7, 24, 1000, 1 << 20] {
            let got: Vec<Record> = OracleReader::new(Dribble {
                data: &bytes,
                chunk,
            })
            .collect::<Result<_, _>>()
            .unwrap();
            assert_eq!(got.len(), 10_000);
            assert_eq!(
                got[9_999],
                Record::new(Timestamp::from_nanos(29_997_000_000_000), 109_989, 14_095)
            );
        }
    }

    #[test]
    fn a_truncated_record_is_an_error_naming_it() {
        let mut bytes = trace(3);
        bytes.truncate(3 * RECORD_LEN - 5);
        let mut r = OracleReader::new(bytes.as_slice());
        assert!(r.read().unwrap().is_some());
        assert!(r.read().unwrap().is_some());
        let err = r.read().unwrap_err();
        assert_eq!(
            err.to_string(),
            "record 3 (byte offset 48) is truncated: 19 of 24 bytes; the file is cut short or is not in this format"
        );
    }
}
