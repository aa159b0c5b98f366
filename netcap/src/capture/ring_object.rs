//! The eBPF object with its capture ring map sized for one capture: the equivalent of
//! libbpf's `bpf_map__set_value_size`, which aya 0.14 lacks (its loader changes a
//! map's `max_entries`, never its value size).
//!
//! `RING` (`netcap-ebpf/src/ring.rs`) is a legacy map definition, a `bpf_map_def` of
//! seven `u32`s in the object's `maps` section (type, key size, value size, max
//! entries, flags, id, pinning); this copies the object and writes the value size into
//! that definition. The kernel's verifier then checks the program's stores against the
//! real element, and an object loaded without this has no room for a record (the
//! verifier refuses it): nothing unchecked depends on the patch being right.
use object::{Object, ObjectSection, ObjectSymbol};

use super::Error;

/// `BPF_MAP_TYPE_ARRAY`.
const MAP_TYPE_ARRAY: u32 = 2;
/// The value size `RING` has in the object as built (its control page).
const BUILT_VALUE_SIZE: u32 = 4096;

/// An eBPF object in 8-byte aligned memory, as aya's parser reads it best.
pub struct AlignedObject {
    words: Vec<u64>,
    len: usize,
}

impl AlignedObject {
    pub fn bytes(&self) -> &[u8] {
        let bytes = words_as_bytes(&self.words);
        bytes.get(..self.len).unwrap_or(bytes)
    }
}

fn words_as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: any u64 is 8 initialised bytes; the slice covers exactly the words'
    // memory and lives as long as the borrow of `words`.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) }
}

fn words_as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: as above; any byte pattern is a valid u64, and the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) }
}

/// A copy of `object` in which the legacy map `map` has values of `value_size` bytes.
pub fn with_value_size(object: &[u8], map: &str, value_size: u32) -> Result<AlignedObject, Error> {
    let bad = |what: String| Error::Unsupported(format!("eBPF object: {what}"));
    let file = object::File::parse(object).map_err(|e| bad(format!("not an ELF file ({e})")))?;
    let symbol = file
        .symbols()
        .find(|s| s.name() == Ok(map))
        .ok_or_else(|| bad(format!("no map {map}")))?;
    let section = symbol
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
        .ok_or_else(|| bad(format!("{map} has no section")))?;
    let (start, size) = section
        .file_range()
        .ok_or_else(|| bad(format!("{map}'s section has no data")))?;
    let within = symbol.address().saturating_sub(section.address());
    if within + 28 > size {
        return Err(bad(format!("{map} is not a map definition")));
    }
    let at = usize::try_from(start + within).map_err(|e| bad(e.to_string()))?;
    let field = |i: usize| -> Option<u32> {
        let b = object.get(at + 4 * i..at + 4 * i + 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    };
    if field(0) != Some(MAP_TYPE_ARRAY) || field(2) != Some(BUILT_VALUE_SIZE) {
        return Err(bad(format!(
            "{map} is not the array map this netcap expects (type {:?}, value size {:?})",
            field(0),
            field(2)
        )));
    }
    let mut words = vec![0u64; object.len().div_ceil(8)];
    let bytes = words_as_bytes_mut(&mut words);
    bytes[..object.len()].copy_from_slice(object);
    bytes[at + 8..at + 12].copy_from_slice(&value_size.to_le_bytes());
    Ok(AlignedObject {
        words,
        len: object.len(),
    })
}
