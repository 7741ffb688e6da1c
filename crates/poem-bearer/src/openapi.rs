//! Corrections to the OpenAPI document poem-openapi generates for guarded operations,
//! and the check that the documented scopes are the enforced ones.
//!
//! poem-openapi 5.1 writes an operation's scope list onto every scheme it lists, while
//! OpenAPI 3.0 (§4.8.30) allows scopes only on `oauth2` requirements. And a requirement's
//! scope list means *all* of them, while a [`Requirement`] takes *any one*. Call
//! [`correct_scopes`] on the document before serving it.

use serde_json::Value;

use crate::{BEARER_SCHEME, DPOP_SCHEME, OAUTH2_SCHEME, Requirement};

/// Rewrites every operation's `security`: `{bearerAuth: [..]}` becomes `{bearerAuth: []}`
/// (and `{dpop: [..]}` `{dpop: []}`),
/// and `{oauth2: [a, b]}` becomes the alternatives `{oauth2: [a]}`, `{oauth2: [b]}`.
pub fn correct_scopes(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|p| p.values_mut())
    {
        if let Some(requirements) = operation.get_mut("security").and_then(Value::as_array_mut) {
            *requirements = requirements.drain(..).flat_map(split).collect();
        }
    }
}

fn split(requirement: Value) -> Vec<Value> {
    let Some(object) = requirement.as_object() else {
        return vec![requirement];
    };
    for scheme in [BEARER_SCHEME, DPOP_SCHEME] {
        if object.contains_key(scheme) {
            return vec![serde_json::json!({ scheme: [] })];
        }
    }
    match object.get(OAUTH2_SCHEME).and_then(Value::as_array) {
        Some(scopes) if scopes.len() > 1 => scopes
            .iter()
            .map(|scope| serde_json::json!({ OAUTH2_SCHEME: [scope] }))
            .collect(),
        _ => vec![requirement],
    }
}

/// The operations of a (corrected) document that need a token, as
/// `(method, path, oauth2 scopes)`: the list a test walks to check each one against its
/// guard with [`check_requirement`], so a new guarded operation cannot go unchecked.
pub fn guarded_operations(document: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut found = Vec::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return found;
    };
    for (path, operations) in paths {
        let Some(operations) = operations.as_object() else {
            continue;
        };
        for (method, operation) in operations {
            let Some(security) = operation.get("security").and_then(Value::as_array) else {
                continue;
            };
            let scopes = security
                .iter()
                .filter_map(|r| r.get(OAUTH2_SCHEME).and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            found.push((method.clone(), path.clone(), scopes));
        }
    }
    found
}

/// Checks that the operation `method path` of a corrected document offers the Bearer
/// scheme and, when the API documents the oauth2 scheme, exactly `R`'s scopes as
/// alternatives: the `#[oai(scope = ...)]` attributes say what the guard enforces.
pub fn check_requirement<R: Requirement>(
    document: &Value,
    method: &str,
    path: &str,
) -> Result<(), String> {
    let operation = format!("{} {path}", method.to_ascii_uppercase());
    let (_, _, documented) = guarded_operations(document)
        .into_iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && p == path)
        .ok_or_else(|| format!("{operation} is not a guarded operation of the document"))?;
    let mut expected: Vec<String> = if <R::Schemes as crate::Schemes>::TOKEN_URL.is_some() {
        R::scope_names().into_iter().map(str::to_owned).collect()
    } else {
        Vec::new()
    };
    let mut documented = documented;
    expected.sort();
    documented.sort();
    if expected != documented {
        return Err(format!(
            "{operation} documents the scopes {documented:?}, but its guard accepts {expected:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_become_alternatives_on_oauth2_only() {
        let mut document = serde_json::json!({"paths": {"/x": {"post": {"security": [
            {"bearerAuth": ["a", "b"]}, {"oauth2": ["a", "b"]}
        ]}}}});
        correct_scopes(&mut document);
        assert_eq!(
            document["paths"]["/x"]["post"]["security"],
            serde_json::json!([{"bearerAuth": []}, {"oauth2": ["a"]}, {"oauth2": ["b"]}])
        );
    }
}
