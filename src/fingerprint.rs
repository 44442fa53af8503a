//! Shared by assemble (step 5) and render (step 6) in a rebuild loop: a hash of a value
//! as it serializes, for the keys that tell a rebuild what changed. Values go straight into the hasher, every token tagged and every string
//! length-prefixed so different values do not run together; nothing is formatted or
//! escaped on the way (serialising to JSON first cost a 100 × 2,000 rebuild about 50 ms).

use std::hash::{BuildHasher, Hasher};

use serde::Serialize;
use serde::ser::{
    SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// A hash of `value` as it serializes. The same within a process, which is all keys
/// need: they are never stored.
pub fn of<T: Serialize + ?Sized>(value: &T) -> u64 {
    let mut h = Fingerprint(hasher());
    // Writing into a hasher cannot fail: every method below returns Ok.
    let _ = value.serialize(&mut h);
    h.0.finish()
}

/// A fresh hasher with fixed keys.
pub fn hasher() -> ahash::AHasher {
    ahash::RandomState::with_seeds(0x7068_6172, 0x6f73_0001, 0x6b65_7973, 0x0022_0022)
        .build_hasher()
}

/// The serializer: each value as a tag byte and its bytes.
struct Fingerprint(ahash::AHasher);

/// Never made: hashing cannot fail.
#[derive(Debug)]
pub struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hashing failed")
    }
}

impl std::error::Error for Never {}

impl serde::ser::Error for Never {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Never
    }
}

impl Fingerprint {
    fn tag(&mut self, t: u8) {
        self.0.write_u8(t);
    }

    fn str(&mut self, s: &str) {
        self.0.write_usize(s.len());
        self.0.write(s.as_bytes());
    }
}

/// Narrow numbers hash as their widest kind: the same value, the same hash.
macro_rules! widen {
    ($($name:ident($ty:ty) => $wide:ident($to:ty);)*) => {$(
        fn $name(self, v: $ty) -> Result<(), Never> {
            self.$wide(<$to>::from(v))
        }
    )*};
}

impl Serializer for &mut Fingerprint {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    widen! {
        serialize_i8(i8) => serialize_i64(i64);
        serialize_i16(i16) => serialize_i64(i64);
        serialize_i32(i32) => serialize_i64(i64);
        serialize_u8(u8) => serialize_u64(u64);
        serialize_u16(u16) => serialize_u64(u64);
        serialize_u32(u32) => serialize_u64(u64);
        serialize_f32(f32) => serialize_f64(f64);
    }
    fn serialize_bool(self, v: bool) -> Result<(), Never> {
        self.tag(1);
        self.0.write_u8(u8::from(v));
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Never> {
        self.tag(2);
        self.0.write_i64(v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Never> {
        self.tag(3);
        self.0.write_u64(v);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Never> {
        self.tag(4);
        self.0.write_u64(v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Never> {
        self.tag(5);
        self.0.write_u32(u32::from(v));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.tag(6);
        self.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Never> {
        self.tag(7);
        self.0.write_usize(v.len());
        self.0.write(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Never> {
        self.tag(8);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.tag(9);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        self.tag(10);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, i: u32, _: &'static str) -> Result<(), Never> {
        self.tag(11);
        self.0.write_u32(i);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        i: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.tag(12);
        self.0.write_u32(i);
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Never> {
        self.tag(13);
        // A sequence of unknown length is closed by `end`.
        self.0.write_usize(len.map_or(usize::MAX, |n| n));
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        i: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.tag(12);
        self.0.write_u32(i);
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, Never> {
        self.tag(14);
        self.0.write_usize(len.map_or(usize::MAX, |n| n));
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        i: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.tag(12);
        self.0.write_u32(i);
        self.serialize_map(Some(len))
    }
}

/// The end of a compound value, so that what follows cannot be read as part of it.
fn close(f: &mut Fingerprint) -> Result<(), Never> {
    f.tag(15);
    Ok(())
}

/// The sequence-like compounds: each element in turn, then the end.
macro_rules! elements {
    ($($trait:ident::$method:ident;)*) => {$(
        impl $trait for &mut Fingerprint {
            type Ok = ();
            type Error = Never;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Never> {
                close(self)
            }
        }
    )*};
}

elements! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

impl SerializeMap for &mut Fingerprint {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        close(self)
    }
}

impl SerializeStruct for &mut Fingerprint {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.str(key);
        value.serialize(&mut **self)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), Never> {
        self.tag(16);
        self.str(key);
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        close(self)
    }
}

impl SerializeStructVariant for &mut Fingerprint {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.str(key);
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        close(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Page {
        title: String,
        tags: Vec<String>,
        note: Option<String>,
    }

    fn page(title: &str, tags: &[&str], note: Option<&str>) -> u64 {
        of(&Page {
            title: title.into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            note: note.map(str::to_string),
        })
    }

    #[test]
    fn equal_values_hash_alike_and_neighbouring_ones_do_not() {
        assert_eq!(page("a", &["x"], None), page("a", &["x"], None));
        let all = [
            page("a", &["x"], None),
            page("ax", &[], None),
            page("a", &["", "x"], None),
            page("a", &["x", ""], None),
            page("a", &[], Some("x")),
            page("a", &["x"], Some("")),
            page("", &["ax"], None),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b, "{all:?}");
            }
        }
    }
}
