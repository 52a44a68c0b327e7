/// What a ciphertext belongs to: a table, a row, a field and, for a value that belongs
/// to something else (an instance's token), that thing's id. It is authenticated with
/// the value, so a ciphertext copied to another row, field or owner does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssociatedData<'a> {
    /// Table name.
    pub table: &'a str,
    /// The row's primary key.
    pub row_id: uuid::Uuid,
    /// Field (column or kind of secret).
    pub field: &'a str,
    /// The id of what the value belongs to, when it belongs to something.
    pub bound_to: Option<uuid::Uuid>,
}

const PREFIX: &[u8] = b"fasterclaw/v1|";
const INLINE: usize = 128;

/// The bytes authenticated with a value: `fasterclaw/v1|<table>|<row id>|<field>`, then
/// `|<owner id>` when the value is bound to one, ids as their 16 raw bytes, built on
/// the stack for the short names this system uses.
pub(super) enum AadBytes {
    Inline([u8; INLINE], usize),
    Heap(Vec<u8>),
}

impl AadBytes {
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            AadBytes::Inline(bytes, len) => &bytes[..*len],
            AadBytes::Heap(bytes) => bytes,
        }
    }
}

impl AssociatedData<'_> {
    pub(super) fn bytes(&self) -> AadBytes {
        let (separator, owner): (&[u8], &[u8]) = match &self.bound_to {
            Some(owner) => (b"|", owner.as_bytes()),
            None => (b"", b""),
        };
        let parts: [&[u8]; 8] = [
            PREFIX,
            self.table.as_bytes(),
            b"|",
            self.row_id.as_bytes(),
            b"|",
            self.field.as_bytes(),
            separator,
            owner,
        ];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= INLINE {
            let mut bytes = [0u8; INLINE];
            let mut at = 0;
            for part in parts {
                bytes[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            AadBytes::Inline(bytes, len)
        } else {
            AadBytes::Heap(parts.concat())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table_row_and_field() {
        let row = uuid::Uuid::nil();
        let aad = AssociatedData {
            table: "sealed_secrets",
            row_id: row,
            field: "telegram_bot_token",
            bound_to: None,
        };
        let expected = [
            b"fasterclaw/v1|sealed_secrets|".as_slice(),
            row.as_bytes(),
            b"|telegram_bot_token",
        ]
        .concat();
        assert_eq!(aad.bytes().as_slice(), expected);
        let owner = uuid::Uuid::from_u128(7);
        let bound = AssociatedData {
            bound_to: Some(owner),
            ..aad
        };
        assert_eq!(
            bound.bytes().as_slice(),
            [expected.as_slice(), b"|", owner.as_bytes()].concat()
        );
        let long = AssociatedData {
            table: &"t".repeat(100),
            row_id: row,
            field: &"f".repeat(100),
            bound_to: None,
        };
        assert_eq!(long.bytes().as_slice().len(), 14 + 100 + 1 + 16 + 1 + 100);
    }
}
