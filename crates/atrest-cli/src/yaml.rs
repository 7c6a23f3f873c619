//! A small block-style YAML emitter for JSON values, in the shape `kubectl get -o yaml` prints.
//! Strings that a YAML parser could read as something else are double-quoted (JSON escaping is
//! valid YAML double-quoted style).

use serde_json::Value;

/// Renders `value` as a YAML document ending in a newline.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => emit_list(items, 0, &mut out),
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
    out
}

fn emit_map(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        push_indent(indent, out);
        out.push_str(&string_text(key));
        out.push(':');
        emit_child(value, indent, out);
    }
}

fn emit_list(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        push_indent(indent, out);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key shares the dash's line, as kubectl prints it.
                let mut nested = String::new();
                emit_map(map, indent + 2, &mut nested);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_list(inner, indent + 2, out);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn emit_child(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            emit_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            emit_list(items, indent, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn push_indent(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_text(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
    }
}

fn string_text(s: &str) -> String {
    if is_plain_safe(s) { s.to_owned() } else { Value::String(s.to_owned()).to_string() }
}

/// Whether `s` reads back as the same string when written unquoted.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if "-?:,[]{}#&*!|>'\"%@`~ \t".contains(first) || s.ends_with([' ', ':']) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let reserved =
        ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".nan", ".inf"];
    if reserved.contains(&lower.as_str()) {
        return false;
    }
    // Anything a YAML 1.1 or 1.2 parser could take for a number (including 0x, 1e3, 1_000, 12:30).
    !(s.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+')
        && s.chars().all(|c| c.is_ascii_hexdigit() || "xXoO._:+-eE".contains(c)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_yaml;

    #[test]
    fn kubectl_like_layout() {
        let value = json!({
            "apiVersion": "v1",
            "data": {"password": "bXlzZWNyZXRwYXNzd29yZA=="},
            "kind": "Secret",
            "metadata": {"labels": {"a": "true", "b": "0x1F"}, "finalizers": ["x/y"],
                          "ownerReferences": [{"kind": "Foo", "name": "a: b"}]},
            "type": "Opaque"
        });
        let expected = "\
apiVersion: v1
data:
  password: bXlzZWNyZXRwYXNzd29yZA==
kind: Secret
metadata:
  finalizers:
  - x/y
  labels:
    a: \"true\"
    b: \"0x1F\"
  ownerReferences:
  - kind: Foo
    name: \"a: b\"
type: Opaque
";
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn empty_and_special_strings_are_quoted() {
        let value = json!({"a": "", "b": "- x", "c": "line\nbreak", "d": 12, "e": null});
        assert_eq!(to_yaml(&value), "a: \"\"\nb: \"- x\"\nc: \"line\\nbreak\"\nd: 12\ne: null\n");
    }
}
