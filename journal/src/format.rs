//! The on-disk format, byte by byte (specified in `docs/JOURNAL.md`). All integers are
//! little-endian. Pure functions over byte slices: no I/O here.

/// First bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"KEELSEG1";
/// Format version written in every segment header.
pub const FORMAT_VERSION: u32 = 2;

/// Why a segment header is refused: damage, or an intact header of another format version
/// (which is not damage, and is reported as such).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    Damaged(&'static str),
    OtherVersion(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Damaged(why) => f.write_str(why),
            HeaderError::OtherVersion(found) => write!(
                f,
                "format version {found}; this build reads format version {FORMAT_VERSION} only"
            ),
        }
    }
}
/// Segment header size; records start right after it.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Record header size; the payload follows it.
pub const RECORD_HEADER_LEN: usize = 32;
/// Every record starts on a multiple of this.
pub const RECORD_ALIGN: usize = 8;
/// Length-word value marking the end of a closed segment's records.
pub const END_MARKER: u32 = 0xFFFF_FFFF;
/// The seal occupies the last `SEAL_LEN` bytes of every segment file.
pub const SEAL_LEN: usize = 128;
/// First word of a written seal ("SEAL").
pub const SEAL_MAGIC: u32 = u32::from_le_bytes(*b"SEAL");
/// Bytes after the last record that must stay free: the next length word (or the end
/// marker) and the seal.
pub const SEGMENT_TAIL_RESERVE: usize = 4 + SEAL_LEN;
/// Largest accepted payload.
pub const PAYLOAD_MAX_BYTES: usize = 1 << 20;
/// Smallest accepted segment size (and segments are a multiple of the page size).
pub const SEGMENT_SIZE_MIN_BYTES: u64 = 64 * 1024;
/// Largest accepted segment size: offsets are stored as u32 in the index and headers.
pub const SEGMENT_SIZE_MAX_BYTES: u64 = 1 << 31;

/// Rounds `len` up to [`RECORD_ALIGN`].
#[inline(always)]
pub const fn align_record(len: usize) -> usize {
    (len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

#[inline(always)]
pub fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

#[inline(always)]
pub fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// How the writer acknowledges appends (see `docs/JOURNAL.md`, "Durability").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledged once in the page cache: survives a process crash, not a power loss.
    None,
    /// A background thread syncs every `period_ms`; acknowledged once synced.
    Interval { period_ms: u32 },
    /// `append` returns only after the record's bytes are synced.
    Sync,
}

impl Durability {
    fn code(self) -> (u8, u32) {
        match self {
            Durability::None => (0, 0),
            Durability::Interval { period_ms } => (1, period_ms),
            Durability::Sync => (2, 0),
        }
    }

    fn from_code(code: u8, period_ms: u32) -> Option<Self> {
        match code {
            0 => Some(Durability::None),
            1 => Some(Durability::Interval { period_ms }),
            2 => Some(Durability::Sync),
            _ => None,
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Durability::None => write!(f, "none"),
            Durability::Interval { period_ms } => write!(f, "interval({period_ms} ms)"),
            Durability::Sync => write!(f, "sync"),
        }
    }
}

/// The segment header (bytes 0..64 of a segment file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub segment_index: u64,
    /// Sequence number of the segment's first record; 0 marks a spare, created ahead of
    /// need and not yet adopted by the writer (it holds nothing).
    pub first_seq: u64,
    pub segment_size: u64,
    pub durability: Durability,
}

impl SegmentHeader {
    pub fn is_spare(&self) -> bool {
        self.first_seq == 0
    }

    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut bytes = [0u8; SEGMENT_HEADER_LEN];
        bytes[0..8].copy_from_slice(&SEGMENT_MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.segment_index.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.segment_size.to_le_bytes());
        let (code, period_ms) = self.durability.code();
        bytes[40] = code;
        bytes[44..48].copy_from_slice(&period_ms.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes and checks a header; `Err` says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        use HeaderError::Damaged;
        if bytes.len() < SEGMENT_HEADER_LEN {
            return Err(Damaged("file shorter than a segment header"));
        }
        if bytes[0..8] != SEGMENT_MAGIC {
            return Err(Damaged("bad magic"));
        }
        if crc32c::crc32c(&bytes[0..60]) != read_u32(bytes, 60) {
            return Err(Damaged("segment header CRC mismatch"));
        }
        let version = read_u32(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderError::OtherVersion(version));
        }
        let durability = Durability::from_code(bytes[40], read_u32(bytes, 44))
            .ok_or(Damaged("unknown durability code"))?;
        let header = SegmentHeader {
            segment_index: read_u64(bytes, 16),
            first_seq: read_u64(bytes, 24),
            segment_size: read_u64(bytes, 32),
            durability,
        };
        Ok(header)
    }
}

/// The fields of a record header other than its length word and CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub kind: u16,
    /// Caller-defined bits (the engine marks the last event of each batch).
    pub flags: u16,
}

/// Builds a record header (with its CRC over header, payload and padding).
#[inline(always)]
pub fn encode_record_header(meta: &RecordMeta, payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    let total_len = (RECORD_HEADER_LEN + payload.len()) as u32;
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&total_len.to_le_bytes());
    header[8..16].copy_from_slice(&meta.seq.to_le_bytes());
    header[16..24].copy_from_slice(&meta.timestamp_ns.to_le_bytes());
    header[24..26].copy_from_slice(&meta.kind.to_le_bytes());
    header[26..28].copy_from_slice(&meta.flags.to_le_bytes());
    let crc = record_crc(&header, payload);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header
}

const ZEROS: [u8; RECORD_ALIGN] = [0; RECORD_ALIGN];

/// CRC32C over the length word, header bytes 8..32, the payload and the zero padding.
#[inline(always)]
pub fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let total_len = RECORD_HEADER_LEN + payload.len();
    let padding = align_record(total_len) - total_len;
    let crc = crc32c::crc32c(&header[0..4]);
    let crc = crc32c::crc32c_append(crc, &header[8..RECORD_HEADER_LEN]);
    let crc = crc32c::crc32c_append(crc, payload);
    crc32c::crc32c_append(crc, &ZEROS[..padding])
}

/// A whole, CRC-checked record inside a segment's bytes.
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    pub meta: RecordMeta,
    pub offset: usize,
    pub payload: &'a [u8],
    /// Offset of the next record (this one's end, aligned).
    pub next_offset: usize,
}

/// What lies at a record position.
#[derive(Debug)]
pub enum Slot<'a> {
    /// A whole record whose CRC matches.
    Record(RecordView<'a>),
    /// Length word 0: nothing written here yet (the end of the data).
    Empty,
    /// The end marker of a closed segment.
    End,
    /// Bytes that are not a whole, valid record; the reason.
    Damaged(&'static str),
}

/// Decodes the slot at `offset` of a segment of `segment_len` bytes, given the length word
/// already read there (an atomic acquire load when a writer may be live) and `bytes`, the
/// segment's bytes from 0 to at least the record's end (or all of them). A record must
/// leave room for the seal after it, as the writer guarantees. Never panics.
pub fn decode_slot(bytes: &[u8], offset: usize, length_word: u32, segment_len: usize) -> Slot<'_> {
    if length_word == 0 {
        return Slot::Empty;
    }
    if length_word == END_MARKER {
        return Slot::End;
    }
    let total_len = length_word as usize;
    if !(RECORD_HEADER_LEN..=RECORD_HEADER_LEN + PAYLOAD_MAX_BYTES).contains(&total_len) {
        return Slot::Damaged("impossible record length");
    }
    let padded = align_record(total_len);
    let Some(end) = offset.checked_add(padded) else {
        return Slot::Damaged("record runs past the segment end");
    };
    if end + SEGMENT_TAIL_RESERVE > segment_len || end > bytes.len() {
        return Slot::Damaged("record runs past the segment end");
    }
    let header = &bytes[offset..offset + RECORD_HEADER_LEN];
    let payload = &bytes[offset + RECORD_HEADER_LEN..offset + total_len];
    let padding = &bytes[offset + total_len..end];
    // The CRC covers the padding as zeros: non-zero padding is damage too.
    if padding.iter().any(|&byte| byte != 0) || record_crc(header, payload) != read_u32(header, 4) {
        return Slot::Damaged("record CRC mismatch");
    }
    Slot::Record(RecordView {
        meta: RecordMeta {
            seq: read_u64(header, 8),
            timestamp_ns: read_u64(header, 16),
            kind: u16::from_le_bytes([header[24], header[25]]),
            flags: u16::from_le_bytes([header[26], header[27]]),
        },
        offset,
        payload,
        next_offset: end,
    })
}

/// The seal of a closed segment, stored in its last [`SEAL_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    pub record_count: u64,
    pub last_seq: u64,
    /// Offset of the end marker: the segment's header and records are `[0, data_end)`.
    pub data_end: u64,
    /// BLAKE3 of the segment's bytes `[0, data_end)`.
    pub content_hash: [u8; 32],
    /// The previous segment's `seal_hash` (zeros for the first segment).
    pub previous_seal: [u8; 32],
    /// BLAKE3 of previous seal, content hash, record count, last seq and data end.
    pub seal_hash: [u8; 32],
}

impl Seal {
    /// Builds the seal of a segment whose data is `data` (= bytes `[0, data_end)`).
    pub fn compute(data: &[u8], record_count: u64, last_seq: u64, previous_seal: [u8; 32]) -> Self {
        let content_hash = *blake3::hash(data).as_bytes();
        let data_end = data.len() as u64;
        Seal {
            record_count,
            last_seq,
            data_end,
            content_hash,
            previous_seal,
            seal_hash: chain_hash(
                &previous_seal,
                &content_hash,
                record_count,
                last_seq,
                data_end,
            ),
        }
    }

    /// The seal bytes.
    pub fn encode(&self) -> [u8; SEAL_LEN] {
        let mut bytes = [0u8; SEAL_LEN];
        bytes[0..4].copy_from_slice(&SEAL_MAGIC.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.record_count.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.last_seq.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.data_end.to_le_bytes());
        bytes[32..64].copy_from_slice(&self.content_hash);
        bytes[64..96].copy_from_slice(&self.previous_seal);
        bytes[96..128].copy_from_slice(&self.seal_hash);
        let crc = seal_crc(&bytes);
        bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes the seal area: `Ok(None)` when it is still blank (not sealed yet).
    pub fn decode(bytes: &[u8]) -> Result<Option<Self>, &'static str> {
        if bytes.len() < SEAL_LEN {
            return Err("seal area too short");
        }
        if bytes[..SEAL_LEN].iter().all(|&byte| byte == 0) {
            return Ok(None);
        }
        if read_u32(bytes, 0) != SEAL_MAGIC {
            return Err("bad seal magic");
        }
        if seal_crc(bytes) != read_u32(bytes, 4) {
            return Err("seal CRC mismatch");
        }
        let mut hashes = [[0u8; 32]; 3];
        for (index, hash) in hashes.iter_mut().enumerate() {
            hash.copy_from_slice(&bytes[32 + 32 * index..64 + 32 * index]);
        }
        let [content_hash, previous_seal, seal_hash] = hashes;
        let seal = Seal {
            record_count: read_u64(bytes, 8),
            last_seq: read_u64(bytes, 16),
            data_end: read_u64(bytes, 24),
            content_hash,
            previous_seal,
            seal_hash,
        };
        let expected = chain_hash(
            &seal.previous_seal,
            &seal.content_hash,
            seal.record_count,
            seal.last_seq,
            seal.data_end,
        );
        if expected != seal.seal_hash {
            return Err("seal hash does not match its fields");
        }
        Ok(Some(seal))
    }
}

fn seal_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&bytes[0..4]);
    crc32c::crc32c_append(crc, &bytes[8..SEAL_LEN])
}

fn chain_hash(
    previous_seal: &[u8; 32],
    content_hash: &[u8; 32],
    record_count: u64,
    last_seq: u64,
    data_end: u64,
) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(previous_seal);
    hasher.update(content_hash);
    hasher.update(&record_count.to_le_bytes());
    hasher.update(&last_seq.to_le_bytes());
    hasher.update(&data_end.to_le_bytes());
    *hasher.finalize().as_bytes()
}

/// Hex form of a seal hash, as `keel journal verify` prints it.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let header = SegmentHeader {
            segment_index: 3,
            first_seq: 42,
            segment_size: 1 << 20,
            durability: Durability::Interval { period_ms: 5 },
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for bit in 0..(SEGMENT_HEADER_LEN * 8) {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(SegmentHeader::decode(&damaged).is_err(), "bit {bit}");
        }
    }

    /// An intact header of another version is refused as such, not as damage.
    #[test]
    fn another_format_version_is_named() {
        let header = SegmentHeader {
            segment_index: 0,
            first_seq: 1,
            segment_size: 1 << 20,
            durability: Durability::None,
        };
        let mut bytes = header.encode();
        bytes[8..12].copy_from_slice(&(FORMAT_VERSION - 1).to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SegmentHeader::decode(&bytes),
            Err(HeaderError::OtherVersion(FORMAT_VERSION - 1))
        );
    }

    #[test]
    fn record_round_trip() {
        let payload = b"hello journal";
        let meta = RecordMeta {
            seq: 7,
            timestamp_ns: 99,
            kind: 3,
            flags: 0x8001,
        };
        let mut bytes = vec![0u8; 256];
        let header = encode_record_header(&meta, payload);
        bytes[8..40].copy_from_slice(&header);
        bytes[40..40 + payload.len()].copy_from_slice(payload);
        let Slot::Record(view) = decode_slot(&bytes, 8, read_u32(&bytes, 8), bytes.len()) else {
            panic!("record expected");
        };
        assert_eq!(view.meta, meta);
        assert_eq!(view.payload, payload);
        assert_eq!(view.next_offset, 8 + align_record(32 + payload.len()));
    }

    #[test]
    fn seal_round_trip_and_blank() {
        let seal = Seal::compute(b"segment bytes", 10, 20, [7; 32]);
        assert_eq!(Seal::decode(&seal.encode()), Ok(Some(seal)));
        assert_eq!(Seal::decode(&[0u8; SEAL_LEN]), Ok(None));
        let mut damaged = seal.encode();
        damaged[70] ^= 4;
        assert!(Seal::decode(&damaged).is_err());
    }
}
