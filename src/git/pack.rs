//! Writing many new objects as one pack (`objects/pack/pack-<hash>.pack`
//! and its `.idx`, formats version 2) instead of one loose file each: one
//! file to write and flush instead of a thousand, each with its own
//! temporary file, rename and fan-out directory.
//!
//! Objects are stored whole (no deltas): `git gc` repacks them with
//! deltas when it consolidates packs (`gc.autoPackLimit`), so no `.keep`
//! is written. The pack is built under a unique temporary name in the pack
//! directory; [`PackWriter::finish`] fixes its object count, appends its
//! checksum, writes the index, flushes both and only then renames them
//! into place, pack first and index last (git's order: a pack is visible
//! to readers once its index is there), and flushes the directory. When
//! `finish` returns, the objects are durable and every process reading the
//! repository can find them.
//!
//! SHA-1 repositories only: the ids are 20 bytes (as everywhere else in
//! savepoint, which refuses SHA-256 repositories at open).

use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};
use git2::{ObjectType, Oid};
use sha1::{Digest, Sha1};

/// One object, compressed and framed as a pack entry (type and size
/// header, then the zlib stream): built on the caller's thread, appended
/// under the writer's lock.
pub(crate) struct Entry {
    oid: Oid,
    bytes: Vec<u8>,
    crc: u32,
}

impl Entry {
    /// Object `oid` (the id of `data` as a `kind` object) as a pack entry.
    pub(crate) fn new(oid: Oid, kind: ObjectType, data: &[u8]) -> io::Result<Entry> {
        let code: u8 = match kind {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            ObjectType::Tag => 4,
            _ => return Err(io::Error::other("no pack type for this object")),
        };
        let mut bytes = Vec::with_capacity(data.len() / 2 + 32);
        // Type and size: 4 bits of size in the first byte, then 7 a byte.
        let mut size = data.len() as u64;
        let mut c = (code << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size != 0 {
            bytes.push(c | 0x80);
            c = (size & 0x7f) as u8;
            size >>= 7;
        }
        bytes.push(c);
        // Level 1, as git's loose objects (`core.looseCompression`).
        let mut z = ZlibEncoder::new(bytes, Compression::fast());
        z.write_all(data)?;
        let bytes = z.finish()?;
        let mut crc = Crc::new();
        crc.update(&bytes);
        Ok(Entry {
            oid,
            bytes,
            crc: crc.sum(),
        })
    }
}

/// A pack being written, under a temporary name until [`PackWriter::finish`].
pub(crate) struct PackWriter {
    dir: PathBuf,
    file: BufWriter<tempfile::NamedTempFile>,
    /// Where the next entry starts.
    offset: u64,
    /// (id, CRC-32 of the entry, offset) per object, in pack order.
    entries: Vec<(Oid, u32, u64)>,
}

/// The 12-byte pack header: `PACK`, version 2, the object count.
fn header(count: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(b"PACK");
    h[4..8].copy_from_slice(&2u32.to_be_bytes());
    h[8..].copy_from_slice(&count.to_be_bytes());
    h
}

impl PackWriter {
    /// Start a pack in `objects/pack` below `objects_dir`.
    pub(crate) fn create(objects_dir: &Path) -> io::Result<PackWriter> {
        let dir = objects_dir.join("pack");
        std::fs::create_dir_all(&dir)?;
        // git's temporary prefix: `git gc` removes stale ones.
        let tmp = tempfile::Builder::new()
            .prefix("tmp_pack_")
            .tempfile_in(&dir)?;
        let mut file = BufWriter::with_capacity(1 << 16, tmp);
        file.write_all(&header(0))?;
        Ok(PackWriter {
            dir,
            file,
            offset: 12,
            entries: Vec::new(),
        })
    }

    /// Append one object (the caller makes sure each id comes once).
    pub(crate) fn add(&mut self, e: Entry) -> io::Result<()> {
        self.file.write_all(&e.bytes)?;
        self.entries.push((e.oid, e.crc, self.offset));
        self.offset += e.bytes.len() as u64;
        Ok(())
    }

    /// How many objects are in the pack.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Complete the pack and its index, make them durable and put them in
    /// place; returns the pack's path.
    pub(crate) fn finish(self) -> io::Result<PathBuf> {
        let PackWriter {
            dir,
            file,
            offset,
            mut entries,
        } = self;
        let count = u32::try_from(entries.len())
            .map_err(|_| io::Error::other("too many objects for one pack"))?;
        let mut tmp = file.into_inner().map_err(|e| e.into_error())?;
        // The count was unknown when the header was written; the checksum
        // covers it, so the file is read back once to compute it.
        let f = tmp.as_file_mut();
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&header(count))?;
        f.seek(SeekFrom::Start(0))?;
        let mut sha = Sha1::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = offset;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::other("pack file shrank while written"));
            }
            sha.update(&buf[..n]);
            left -= n as u64;
        }
        let pack_sum: [u8; 20] = sha.finalize().into();
        f.write_all(&pack_sum)?;

        entries.sort_unstable_by_key(|e| e.0);
        let idx = index_bytes(&entries, &pack_sum);
        let mut idx_tmp = tempfile::Builder::new()
            .prefix("tmp_idx_")
            .tempfile_in(&dir)?;
        idx_tmp.write_all(&idx)?;

        crate::fs::durable::sync_new_files(&[
            (tmp.as_file(), tmp.path()),
            (idx_tmp.as_file(), idx_tmp.path()),
        ]);
        let name: String = pack_sum.iter().map(|b| format!("{b:02x}")).collect();
        let pack_path = dir.join(format!("pack-{name}.pack"));
        let idx_path = dir.join(format!("pack-{name}.idx"));
        for f in [tmp.as_file(), idx_tmp.as_file()] {
            let mut perm = f.metadata()?.permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o444);
            f.set_permissions(perm)?;
        }
        // Pack, then index (readers look for the index); a pack of the same
        // name has the same content, so replacing it changes nothing.
        tmp.persist(&pack_path).map_err(|e| e.error)?;
        idx_tmp.persist(&idx_path).map_err(|e| e.error)?;
        crate::fs::durable::sync_dir(&dir);
        Ok(pack_path)
    }
}

/// A version 2 pack index for `entries` (sorted by id).
fn index_bytes(entries: &[(Oid, u32, u64)], pack_sum: &[u8; 20]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 1024 + entries.len() * 28 + 40);
    out.extend_from_slice(&[0xff, b't', b'O', b'c']);
    out.extend_from_slice(&2u32.to_be_bytes());
    // Fan-out: how many ids start with a byte up to each value.
    let mut fanout = [0u32; 256];
    for (oid, _, _) in entries {
        fanout[oid.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0u32;
    for n in fanout {
        total += n;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (oid, _, _) in entries {
        out.extend_from_slice(oid.as_bytes());
    }
    for (_, crc, _) in entries {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    // Offsets past 2 GiB go to a table of 64-bit offsets.
    let mut large: Vec<u64> = Vec::new();
    for &(_, _, offset) in entries {
        let small = if offset < 0x8000_0000 {
            offset as u32
        } else {
            large.push(offset);
            0x8000_0000 | (large.len() as u32 - 1)
        };
        out.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_sum);
    let idx_sum: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&idx_sum);
    out
}
