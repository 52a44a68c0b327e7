//! The OpenAPI v2 document in the protobuf form kubectl downloads (it asks for
//! `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and, like the real
//! server, gets `application/octet-stream`: the `openapi.v2` messages of gnostic): the swagger version, the info, and the definitions with their
//! schemas and vendor extensions. Only the fields those use are written.

use serde_json::Value;

#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, text: &str) {
        if !text.is_empty() {
            self.bytes(field, text.as_bytes());
        }
    }

    fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.0);
    }

    fn double(&mut self, field: u32, value: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn int64(&mut self, field: u32, value: i64) {
        self.key(field, 0);
        self.varint(value as u64);
    }

    fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.varint(1);
        }
    }
}

/// `Any { yaml }`: gnostic carries free-form values as YAML text (JSON is YAML).
fn any(value: &Value) -> Message {
    let mut any = Message::default();
    any.string(2, &value.to_string());
    any
}

fn named_schema(name: &str, schema: &Value) -> Message {
    let mut named = Message::default();
    named.string(1, name);
    named.message(2, schema_message(schema));
    named
}

/// `Schema`, from a JSON schema.
fn schema_message(schema: &Value) -> Message {
    let mut m = Message::default();
    let text = |key: &str| schema.get(key).and_then(Value::as_str).unwrap_or_default();
    m.string(1, text("$ref"));
    m.string(2, text("format"));
    m.string(3, text("title"));
    m.string(4, text("description"));
    if let Some(default) = schema.get("default") {
        m.message(5, any(default));
    }
    for (field, key) in [(6, "multipleOf"), (7, "maximum"), (9, "minimum")] {
        if let Some(number) = schema.get(key).and_then(Value::as_f64) {
            m.double(field, number);
        }
    }
    m.boolean(
        8,
        schema.get("exclusiveMaximum") == Some(&Value::Bool(true)),
    );
    m.boolean(
        10,
        schema.get("exclusiveMinimum") == Some(&Value::Bool(true)),
    );
    for (field, key) in [
        (11, "maxLength"),
        (12, "minLength"),
        (14, "maxItems"),
        (15, "minItems"),
        (17, "maxProperties"),
        (18, "minProperties"),
    ] {
        if let Some(number) = schema.get(key).and_then(Value::as_i64) {
            m.int64(field, number);
        }
    }
    m.string(13, text("pattern"));
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.string(19, required.as_str().unwrap_or_default());
    }
    for option in schema
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(option));
    }
    match schema.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            let mut item = Message::default();
            item.key(2, 0);
            item.varint(u64::from(*allowed));
            m.message(21, item);
        }
        Some(additional @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema_message(additional));
            m.message(21, item);
        }
        _ => {}
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let mut item = Message::default();
        item.string(1, kind);
        m.message(22, item);
    }
    if let Some(items) = schema.get("items") {
        let mut item = Message::default();
        item.message(1, schema_message(items));
        m.message(23, item);
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema_message(part));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let mut list = Message::default();
        for (name, property) in properties {
            list.message(1, named_schema(name, property));
        }
        m.message(25, list);
    }
    if let Some(object) = schema.as_object() {
        for (name, value) in object.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, any(value));
            m.message(31, named);
        }
    }
    m
}

/// Encodes an OpenAPI v2 (Swagger) JSON document.
pub fn encode_document(document: &Value) -> Vec<u8> {
    let mut doc = Message::default();
    doc.string(1, document["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Message::default();
    info.string(1, document["info"]["title"].as_str().unwrap_or_default());
    info.string(2, document["info"]["version"].as_str().unwrap_or_default());
    doc.message(2, info);
    doc.message(8, Message::default());
    let mut definitions = Message::default();
    for (name, schema) in document["definitions"].as_object().into_iter().flatten() {
        definitions.message(1, named_schema(name, schema));
    }
    doc.message(9, definitions);
    doc.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn writes_protobuf_wire_format() {
        let mut m = Message::default();
        m.varint(300);
        assert_eq!(m.0, [0xac, 0x02]);
        let encoded = encode_document(&json!({
            "swagger": "2.0",
            "info": { "title": "T", "version": "v" },
            "definitions": { "a.B": { "type": "object", "properties": { "x": { "type": "string", "maxLength": 5 } } } }
        }));
        // field 1 (swagger), length 3, "2.0"
        assert_eq!(&encoded[..5], &[0x0a, 0x03, b'2', b'.', b'0']);
        assert!(encoded.windows(3).any(|w| w == b"a.B"));
    }
}
