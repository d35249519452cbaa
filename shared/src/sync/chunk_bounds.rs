//! Bounds on what decoding received automerge chunks may cost, checked before automerge sees
//! them.
//!
//! automerge 0.12 decodes a chunk by materialising its columns, and trusts the sizes the bytes
//! declare: a 51-byte bundle chunk whose delta column declares a run of 2³² values makes it
//! allocate 16 GiB (`fuzz/regressions/document_load/bundle-huge-run`, found by the fuzzer), and a
//! compressed change or a document's deflated column can inflate a few kilobytes into
//! gigabytes. One sync message from a logged-in device would take the server down.
//!
//! [`check`] walks the chunks with a reader of its own that never allocates more than its
//! bounds: it inflates with a cap, and counts, without materialising them, the values each
//! run-length-encoded column declares. The budget is for the whole input, because automerge
//! parses every chunk of a message before it applies any.
//!
//! It refuses only what it has read to be too costly, and the bundle format: automerge 0.12
//! marks bundles experimental and writes them only when asked, never in a sync message. Bytes
//! that do not parse as chunks are left to automerge, which rejects them with its own error
//! having decoded no more than [`check`] counted (the counting stops where the bytes stop making
//! sense, as automerge's decoding does).

use std::io::Read as _;

/// Where every automerge chunk starts.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// What decoding one input may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkBounds {
    /// Bytes after inflating compressed changes and deflated document columns, in total.
    pub max_inflated_bytes: u64,
    /// Column values (ops, changes, actor indexes…) the columns declare, in total.
    pub max_column_values: u64,
}

impl Default for ChunkBounds {
    /// Room for a document of a million operations (each operation is one value in each of about
    /// a dozen columns); nimo's largest records, a visit case after years of notes or a training
    /// of 500 people, hold tens of thousands.
    fn default() -> Self {
        Self {
            max_inflated_bytes: 64 * 1024 * 1024,
            max_column_values: 16_000_000,
        }
    }
}

/// Why [`check`] refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkRefused {
    /// A bundle chunk: experimental in automerge 0.12, never sent in sync.
    #[error("it holds a bundle chunk, a format no sync peer sends")]
    Bundle,
    /// Compressed data that inflates past the bound.
    #[error("its compressed data inflates to more than {limit} bytes")]
    InflatesTooFar {
        /// [`ChunkBounds::max_inflated_bytes`].
        limit: u64,
    },
    /// Columns that declare more values than the bound.
    #[error("its columns declare more than {limit} values")]
    TooManyValues {
        /// [`ChunkBounds::max_column_values`].
        limit: u64,
    },
}

/// Checks that decoding `bytes` (concatenated automerge chunks: a saved document, changes, the
/// changes of a sync message) stays within `bounds`.
pub fn check(bytes: &[u8], bounds: &ChunkBounds) -> Result<(), ChunkRefused> {
    spend(bytes, bounds).map(drop)
}

/// [`check`], returning what was spent.
fn spend(bytes: &[u8], bounds: &ChunkBounds) -> Result<Budget, ChunkRefused> {
    let mut budget = Budget {
        bounds: *bounds,
        inflated: 0,
        values: 0,
    };
    let mut rest = bytes;
    while let Some((chunk_type, body, after)) = chunk(rest) {
        match chunk_type {
            ChunkType::Document => document(body, &mut budget)?,
            ChunkType::Change => change(body, &mut budget)?,
            ChunkType::CompressedChange => {
                let inflated = budget.inflate(body)?;
                change(&inflated, &mut budget)?;
            }
            ChunkType::Bundle => return Err(ChunkRefused::Bundle),
            // automerge refuses a chunk type it does not know, and stops there.
            ChunkType::Unknown => break,
        }
        rest = after;
    }
    Ok(budget)
}

/// What is left to spend while checking one input.
struct Budget {
    bounds: ChunkBounds,
    inflated: u64,
    values: u64,
}

impl Budget {
    /// Inflates raw DEFLATE data, refusing once the total passes the bound. Data that fails to
    /// inflate yields what came out before the failure, as much as automerge would have held.
    fn inflate(&mut self, compressed: &[u8]) -> Result<Vec<u8>, ChunkRefused> {
        let limit = self.bounds.max_inflated_bytes;
        let room = limit.saturating_sub(self.inflated);
        let mut out = Vec::new();
        let mut decoder = flate2::bufread::DeflateDecoder::new(compressed).take(room + 1);
        // An error ends the data automerge would decode too; what came out before it counts.
        let _ = decoder.read_to_end(&mut out);
        self.inflated += out.len() as u64;
        if self.inflated > limit {
            return Err(ChunkRefused::InflatesTooFar { limit });
        }
        Ok(out)
    }

    fn spend_values(&mut self, count: u64) -> Result<(), ChunkRefused> {
        self.values = self.values.saturating_add(count);
        let limit = self.bounds.max_column_values;
        if self.values > limit {
            return Err(ChunkRefused::TooManyValues { limit });
        }
        Ok(())
    }
}

/// The type an automerge chunk's header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkType {
    /// A saved document (type 0).
    Document,
    /// One change (type 1).
    Change,
    /// One change whose body is deflated (type 2).
    CompressedChange,
    /// Several changes in one chunk (type 3), experimental in automerge 0.12.
    Bundle,
    /// A type automerge does not know; it stops loading there.
    Unknown,
}

/// The chunks of `bytes` as automerge's loading walks them: each whole chunk (header included)
/// with its type, then whatever follows the last one: bytes that do not make a whole chunk, or
/// a chunk of a type automerge does not know and everything after it. Nothing is decoded; the
/// server's frame guard decodes each change on its own (`server::sync::frame_guard`).
pub fn split(bytes: &[u8]) -> (Vec<(ChunkType, &[u8])>, &[u8]) {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while let Some((chunk_type, _, after)) = chunk(rest) {
        if chunk_type == ChunkType::Unknown {
            break;
        }
        chunks.push((chunk_type, &rest[..rest.len() - after.len()]));
        rest = after;
    }
    (chunks, rest)
}

/// The next chunk's type and body, and the bytes after it; `None` where no whole chunk starts.
fn chunk(bytes: &[u8]) -> Option<(ChunkType, &[u8], &[u8])> {
    let mut reader = Reader(bytes);
    if reader.take(4)? != MAGIC {
        return None;
    }
    reader.take(4)?; // the checksum, which automerge verifies
    let chunk_type = match reader.take(1)?[0] {
        0 => ChunkType::Document,
        1 => ChunkType::Change,
        2 => ChunkType::CompressedChange,
        3 => ChunkType::Bundle,
        _ => ChunkType::Unknown,
    };
    let len = reader.uleb_usize()?;
    let body = reader.take(len)?;
    Some((chunk_type, body, reader.0))
}

/// The heads a saved document declares, read from its header without decoding the rest, when
/// `bytes` are exactly one document chunk (as samod's snapshots are); `None` otherwise. The
/// server answers a peer that has nothing with a stored snapshot as it is, and needs its heads
/// for the message (`server::sync::cold_read`); the checksum and the rest are for the
/// receiving automerge to verify.
pub fn document_heads(bytes: &[u8]) -> Option<Vec<automerge::ChangeHash>> {
    let (ChunkType::Document, body, []) = chunk(bytes)? else {
        return None;
    };
    let mut reader = Reader(body);
    skip_actor_ids(&mut reader)?;
    let count = reader.uleb_usize()?;
    (0..count)
        .map(|_| automerge::ChangeHash::try_from(reader.take(32)?).ok())
        .collect()
}

/// The actors a saved document's actor table lists, read from its header without decoding the
/// rest, when `bytes` are exactly one document chunk (as samod's snapshots are); `None`
/// otherwise. Every actor of a saved document authored one of its changes, so the server can
/// tell that a document knows the actors a device's changes name without loading it
/// (`server::sync::actor_guard::watch`).
pub fn document_actors(bytes: &[u8]) -> Option<Vec<automerge::ActorId>> {
    let (ChunkType::Document, body, []) = chunk(bytes)? else {
        return None;
    };
    let mut reader = Reader(body);
    (0..reader.uleb()?)
        .map(|_| {
            let len = reader.uleb_usize()?;
            Some(automerge::ActorId::from(reader.take(len)?))
        })
        .collect()
}

/// A document chunk: actors, heads, then the change and operation columns, some deflated.
fn document(body: &[u8], budget: &mut Budget) -> Result<(), ChunkRefused> {
    let mut reader = Reader(body);
    let Some(columns) = (|| {
        skip_actor_ids(&mut reader)?;
        let heads = reader.uleb_usize()?;
        reader.take(heads.checked_mul(32)?)?;
        let change_columns = reader.column_specs()?;
        let op_columns = reader.column_specs()?;
        Some([change_columns, op_columns])
    })() else {
        return Ok(());
    };
    for specs in columns {
        for (spec, len) in specs {
            let Some(data) = reader.take(len) else {
                return Ok(());
            };
            if spec.is_deflated() {
                let inflated = budget.inflate(data)?;
                column_values(spec, &inflated, budget)?;
            } else {
                column_values(spec, data, budget)?;
            }
        }
    }
    Ok(())
}

/// A change chunk: its dependencies, actors and metadata, then the operation columns.
fn change(body: &[u8], budget: &mut Budget) -> Result<(), ChunkRefused> {
    let mut reader = Reader(body);
    let Some(specs) = (|| {
        let dependencies = reader.uleb_usize()?;
        reader.take(dependencies.checked_mul(32)?)?;
        let actor = reader.uleb_usize()?;
        reader.take(actor)?;
        reader.uleb()?; // seq
        reader.uleb()?; // start op
        reader.uleb()?; // time (signed; only skipped)
        let message = reader.uleb_usize()?;
        reader.take(message)?;
        skip_actor_ids(&mut reader)?;
        reader.column_specs()
    })() else {
        return Ok(());
    };
    for (spec, len) in specs {
        let Some(data) = reader.take(len) else {
            return Ok(());
        };
        // A change's own columns are never deflated (the whole chunk is compressed instead);
        // automerge refuses one that says it is.
        column_values(spec, data, budget)?;
    }
    Ok(())
}

fn skip_actor_ids(reader: &mut Reader<'_>) -> Option<()> {
    for _ in 0..reader.uleb()? {
        let len = reader.uleb_usize()?;
        reader.take(len)?;
    }
    Some(())
}

/// A column's specification: its id, type and whether it is deflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ColumnSpec(u64);

impl ColumnSpec {
    fn is_deflated(self) -> bool {
        self.0 & 0b1000 != 0
    }

    fn encoding(self) -> Encoding {
        match self.0 & 0b111 {
            // group cardinality, actor index, unsigned integer, value metadata
            0 | 1 | 2 | 6 => Encoding::Rle(Item::Unsigned),
            3 => Encoding::Rle(Item::Signed),
            4 => Encoding::Boolean,
            5 => Encoding::Rle(Item::String),
            // Raw value bytes, sized by the value metadata column: nothing to expand.
            _ => Encoding::Raw,
        }
    }
}

enum Encoding {
    Rle(Item),
    Boolean,
    Raw,
}

/// What one value of a run-length-encoded column is.
enum Item {
    Unsigned,
    Signed,
    String,
}

/// Spends the number of values a column declares, counting runs without expanding them.
fn column_values(spec: ColumnSpec, data: &[u8], budget: &mut Budget) -> Result<(), ChunkRefused> {
    let mut reader = Reader(data);
    match spec.encoding() {
        Encoding::Raw => {}
        // Alternating run lengths of false and true.
        Encoding::Boolean => {
            while let Some(run) = reader.uleb() {
                budget.spend_values(run)?;
            }
        }
        // A positive count repeats the one value that follows, a negative count is followed by
        // that many literal values, zero is followed by a count of nulls.
        Encoding::Rle(item) => {
            while let Some(count) = reader.sleb() {
                let declared = match count {
                    0 => match reader.uleb() {
                        Some(nulls) => nulls,
                        None => break,
                    },
                    repeated if repeated > 0 => {
                        if reader.item(&item).is_none() {
                            break;
                        }
                        repeated.unsigned_abs()
                    }
                    literals => {
                        let literals = literals.unsigned_abs();
                        // Only the literals present count: automerge's decoder, too, stops
                        // at the end of the data.
                        let mut read = 0;
                        while read < literals && reader.item(&item).is_some() {
                            read += 1;
                        }
                        read
                    }
                };
                budget.spend_values(declared)?;
            }
        }
    }
    Ok(())
}

/// A cursor over bytes; every read returns `None` at the end of the data or on a malformed
/// number, and consumes nothing useful after that.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Some(head)
    }

    /// An unsigned LEB128 number of at most 64 bits.
    fn uleb(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn uleb_usize(&mut self) -> Option<usize> {
        usize::try_from(self.uleb()?).ok()
    }

    /// A signed LEB128 number of at most 64 bits.
    fn sleb(&mut self) -> Option<i64> {
        let mut value: i64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.take(1)?.first()?;
            if shift == 63 && byte & 0x7e != 0 && byte & 0x7e != 0x7e {
                return None;
            }
            value |= i64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1_i64 << shift;
                }
                return Some(value);
            }
            if shift >= 64 {
                return None;
            }
        }
    }

    fn item(&mut self, item: &Item) -> Option<()> {
        match item {
            Item::Unsigned => self.uleb().map(drop),
            Item::Signed => self.sleb().map(drop),
            Item::String => {
                let len = self.uleb_usize()?;
                self.take(len).map(drop)
            }
        }
    }

    /// Column specifications with their data lengths, as a chunk's metadata lists them.
    fn column_specs(&mut self) -> Option<Vec<(ColumnSpec, usize)>> {
        let count = self.uleb()?;
        let mut specs = Vec::new();
        for _ in 0..count {
            let spec = ColumnSpec(self.uleb()?);
            let len = self.uleb_usize()?;
            specs.push((spec, len));
        }
        Some(specs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable as _;
    use automerge::{AutoCommit, ObjType, ROOT};

    fn notes_document(chars: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        let notes = doc
            .put_object(ROOT, "notes", ObjType::Text)
            .expect("a text object");
        doc.splice_text(&notes, 0, 0, &"訪問".repeat(chars / 2))
            .expect("text goes in");
        doc.put(ROOT, "patient", "P-0001").expect("a put");
        doc
    }

    #[test]
    fn split_returns_each_chunk_whole_and_what_follows_them() {
        let mut doc = notes_document(40);
        let first = doc.save();
        doc.put(ROOT, "visited", true).expect("a put");
        let change = doc
            .get_last_local_change()
            .expect("a change")
            .raw_bytes()
            .to_vec();
        let mut bytes = [first.as_slice(), change.as_slice(), change.as_slice()].concat();
        let (chunks, rest) = split(&bytes);
        assert_eq!(
            chunks,
            vec![
                (ChunkType::Document, first.as_slice()),
                (ChunkType::Change, change.as_slice()),
                (ChunkType::Change, change.as_slice()),
            ]
        );
        assert!(rest.is_empty());
        let change_parsed = automerge::Change::try_from(chunks[1].1).expect("a change chunk");
        assert_eq!(change_parsed.hash(), doc.get_heads()[0]);

        // A cut chunk, and a chunk of an unknown type, end the walk and are left as they are.
        bytes.truncate(bytes.len() - 1);
        let (chunks, rest) = split(&bytes);
        assert_eq!(chunks.len(), 2);
        assert_eq!(rest, &change[..change.len() - 1]);
        let mut unknown = change.clone();
        unknown[8] = 9;
        let with_unknown = [change.as_slice(), unknown.as_slice(), change.as_slice()].concat();
        let (chunks, rest) = split(&with_unknown);
        assert_eq!(chunks, vec![(ChunkType::Change, change.as_slice())]);
        assert_eq!(rest, &with_unknown[change.len()..]);
    }

    #[test]
    fn a_saved_documents_heads_are_read_from_its_header() {
        let mut doc = notes_document(200);
        let mut other = doc.fork();
        other.put(ROOT, "visited", true).expect("a put");
        doc.put(ROOT, "visited", false).expect("a put");
        doc.merge(&mut other).expect("merges");
        let mut heads = doc.get_heads();
        assert_eq!(heads.len(), 2, "two concurrent heads");
        let saved = doc.save();
        let mut read = document_heads(&saved).expect("a document chunk");
        read.sort_unstable();
        heads.sort_unstable();
        assert_eq!(read, heads);
        assert_eq!(document_heads(&AutoCommit::new().save()), Some(Vec::new()));
    }

    #[test]
    fn a_saved_documents_actors_are_read_from_its_header() {
        let mut doc = notes_document(200);
        let mut other = doc.fork();
        other.put(ROOT, "visited", true).expect("a put");
        doc.merge(&mut other).expect("merges");
        let mut actors = vec![doc.get_actor().clone(), other.get_actor().clone()];
        actors.sort_unstable();
        let saved = doc.save();
        assert_eq!(document_actors(&saved), Some(actors));
        assert_eq!(document_actors(&AutoCommit::new().save()), Some(Vec::new()));
        let mut change_after = saved.clone();
        doc.put(ROOT, "after", 1).expect("a put");
        change_after.extend_from_slice(&doc.save_incremental());
        assert_eq!(
            document_actors(&change_after),
            None,
            "a document and a change"
        );
        assert_eq!(
            document_actors(&saved[..saved.len() - 1]),
            None,
            "cut short"
        );
    }

    #[test]
    fn only_exactly_one_document_chunk_has_heads_to_read() {
        let mut doc = notes_document(20);
        let saved = doc.save();
        let mut two = saved.clone();
        two.extend_from_slice(&doc.save_incremental());
        doc.put(ROOT, "after", 1).expect("a put");
        let change = doc.save_incremental();
        assert!(!change.is_empty());
        two.extend_from_slice(&change);
        assert_eq!(
            document_heads(&two),
            None,
            "a document followed by a change"
        );
        assert_eq!(document_heads(&change), None, "a change");
        assert_eq!(document_heads(&saved[..saved.len() - 1]), None, "cut short");
        assert_eq!(document_heads(b"not a chunk"), None);
    }

    #[test]
    fn real_documents_and_changes_pass() {
        let mut doc = notes_document(20_000);
        let bounds = ChunkBounds::default();
        let saved = spend(&doc.save(), &bounds).expect("within bounds");
        assert!(
            saved.inflated > 0,
            "a saved document deflates its larger columns"
        );
        assert_eq!(check(&doc.save_nocompress(), &bounds), Ok(()));
        let changes: Vec<u8> = doc
            .get_changes(&[])
            .into_iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        assert_eq!(check(&changes, &bounds), Ok(()));
        // Compressed change chunks, as automerge stores larger changes.
        let mut compressed = Vec::new();
        for change in doc.get_changes(&[]) {
            compressed.extend_from_slice(change.clone().bytes().as_ref());
        }
        assert_eq!(compressed.get(8), Some(&2), "a compressed change chunk");
        assert_eq!(check(&compressed, &bounds), Ok(()));
        assert_eq!(check(&doc.save_after(&[]), &bounds), Ok(()));
    }

    #[test]
    fn the_fuzzers_bundle_with_a_run_of_four_billion_values_is_refused() {
        let bundle = include_bytes!("../../../fuzz/regressions/document_load/bundle-huge-run");
        assert_eq!(
            check(bundle, &ChunkBounds::default()),
            Err(ChunkRefused::Bundle)
        );
    }

    #[test]
    fn a_document_whose_columns_declare_too_many_values_is_refused() {
        let doc = notes_document(2_000);
        let tight = ChunkBounds {
            max_column_values: 1_000,
            ..ChunkBounds::default()
        };
        assert_eq!(
            check(&doc.clone().save(), &tight),
            Err(ChunkRefused::TooManyValues { limit: 1_000 })
        );
        // The same bytes within the default bounds.
        assert_eq!(check(&doc.clone().save(), &ChunkBounds::default()), Ok(()));
    }

    #[test]
    fn a_change_that_declares_one_enormous_run_is_refused_unexpanded() {
        // An insert change's op columns, then its key-counter column (delta) rewritten to a
        // single run of 2⁴⁰ values: six bytes that would expand to eight terabytes.
        let mut body = Vec::new();
        leb(&mut body, 0); // no dependencies
        leb(&mut body, 1);
        body.push(0xaa); // actor
        leb(&mut body, 1); // seq
        leb(&mut body, 1); // start op
        leb(&mut body, 0); // time
        leb(&mut body, 0); // message
        leb(&mut body, 0); // other actors
        let mut run = Vec::new();
        sleb(&mut run, 1 << 40);
        sleb(&mut run, 1);
        leb(&mut body, 1); // one column
        leb(&mut body, (2 << 4) | 3); // id 2, delta integer
        leb(&mut body, run.len() as u64);
        body.extend_from_slice(&run);
        let chunk = framed(1, &body);
        assert_eq!(
            check(&chunk, &ChunkBounds::default()),
            Err(ChunkRefused::TooManyValues {
                limit: ChunkBounds::default().max_column_values
            })
        );
    }

    #[test]
    fn a_deflate_bomb_is_refused_after_inflating_no_more_than_the_bound() {
        // 64 MiB of zeros compress to about 64 KiB; as a compressed change chunk they would
        // inflate whole inside automerge.
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, &vec![0; 65 * 1024 * 1024]).expect("in memory");
        let compressed = encoder.finish().expect("in memory");
        assert!(compressed.len() < 100 * 1024, "{}", compressed.len());
        assert_eq!(
            check(&framed(2, &compressed), &ChunkBounds::default()),
            Err(ChunkRefused::InflatesTooFar {
                limit: 64 * 1024 * 1024
            })
        );
    }

    #[test]
    fn each_operation_counts_once_in_each_of_its_columns() {
        let saved = notes_document(600).save_nocompress();
        let values = spend(&saved, &ChunkBounds::default())
            .expect("within bounds")
            .values;
        // 601 operations (600 characters and the patient) across about a dozen op columns, plus
        // the change columns of one or two changes.
        assert!((601 * 8..601 * 16).contains(&values), "{values}");
    }

    #[test]
    fn the_budget_is_for_the_whole_input_not_each_chunk() {
        let saved = notes_document(600).save_nocompress();
        let one = spend(&saved, &ChunkBounds::default())
            .expect("within bounds")
            .values;
        let bounds = ChunkBounds {
            max_column_values: one * 3,
            ..ChunkBounds::default()
        };
        assert_eq!(check(&saved, &bounds), Ok(()));
        let many: Vec<u8> = std::iter::repeat_n(saved.as_slice(), 10)
            .flatten()
            .copied()
            .collect();
        assert_eq!(
            check(&many, &bounds),
            Err(ChunkRefused::TooManyValues { limit: one * 3 })
        );
    }

    #[test]
    fn bytes_that_are_not_chunks_are_left_to_automerge() {
        let bounds = ChunkBounds::default();
        assert_eq!(check(&[], &bounds), Ok(()));
        assert_eq!(check(b"not a chunk at all", &bounds), Ok(()));
        assert_eq!(check(&MAGIC, &bounds), Ok(()));
        let saved = notes_document(10).save();
        assert_eq!(check(&saved[..saved.len() / 2], &bounds), Ok(()));
    }

    fn framed(chunk_type: u8, body: &[u8]) -> Vec<u8> {
        let mut chunk = MAGIC.to_vec();
        chunk.extend_from_slice(&[0, 0, 0, 0]);
        chunk.push(chunk_type);
        leb(&mut chunk, body.len() as u64);
        chunk.extend_from_slice(body);
        chunk
    }

    fn leb(out: &mut Vec<u8>, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn sleb(out: &mut Vec<u8>, mut value: i64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
            if done {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
}
