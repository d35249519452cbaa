//! A JSON view of an Automerge document that keeps every value's exact type, so that another
//! implementation (the JavaScript client in the interop test) can rebuild the same structure:
//! `{"type": "map", "entries": {…}}`, `{"type": "uint", "value": 3}`, `{"type": "text", …}`.

use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde_json::{Value as Json, json};

/// The typed tree of `doc`'s root map.
pub fn typed_tree(doc: &impl ReadDoc) -> Json {
    object(doc, &automerge::ROOT, ObjType::Map)
}

fn object(doc: &impl ReadDoc, obj: &ObjId, kind: ObjType) -> Json {
    match kind {
        ObjType::Map | ObjType::Table => {
            let entries: serde_json::Map<String, Json> = doc
                .keys(obj)
                .filter_map(|key| {
                    let (found, id) = doc.get(obj, key.as_str()).ok().flatten()?;
                    Some((key, value(doc, found, &id)))
                })
                .collect();
            json!({ "type": "map", "entries": entries })
        }
        ObjType::List => {
            let items: Vec<Json> = (0..doc.length(obj))
                .filter_map(|index| {
                    let (found, id) = doc.get(obj, index).ok().flatten()?;
                    Some(value(doc, found, &id))
                })
                .collect();
            json!({ "type": "list", "items": items })
        }
        ObjType::Text => json!({ "type": "text", "value": doc.text(obj).unwrap_or_default() }),
    }
}

fn value(doc: &impl ReadDoc, found: Value<'_>, id: &ObjId) -> Json {
    match found {
        Value::Object(kind) => object(doc, id, kind),
        Value::Scalar(scalar) => match scalar.as_ref() {
            ScalarValue::Str(s) => json!({ "type": "str", "value": s.as_str() }),
            ScalarValue::Uint(u) => json!({ "type": "uint", "value": u }),
            ScalarValue::Int(i) => json!({ "type": "int", "value": i }),
            ScalarValue::F64(f) => json!({ "type": "f64", "value": f }),
            ScalarValue::Boolean(b) => json!({ "type": "bool", "value": b }),
            ScalarValue::Null => json!({ "type": "null" }),
            ScalarValue::Timestamp(t) => json!({ "type": "timestamp", "value": t }),
            ScalarValue::Counter(c) => json!({ "type": "counter", "value": i64::from(c) }),
            other => json!({ "type": "unsupported", "value": other.to_string() }),
        },
    }
}
