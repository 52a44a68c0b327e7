//! Schema helpers for fields whose generated schema needs a nudge to read well in
//! `kubectl explain`.

use schemars::{JsonSchema, Schema, SchemaGenerator};

/// The schema of an optional enum field: the enum's values, `nullable`, and no
/// description of its own, so that the field's doc comment is what `kubectl explain`
/// shows rather than the enum type's.
pub(super) fn optional_enum<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = T::json_schema(generator);
    schema.remove("description");
    schema.remove("title");
    schema.insert("nullable".to_owned(), true.into());
    schema
}
