//! Errors in settings, named by the field that holds the mistake.

/// A setting that cannot be used: the field path (`previous_keys[1].public_key`,
/// `jwks_url`) relative to the settings value that was given, and what is wrong. The
/// message never holds the setting's value, so an app can prefix its own key name
/// (`jwt.previous_keys[1].public_key`) or environment variable and print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    field: String,
    message: String,
}

impl SettingsError {
    /// An error in `field` (a path such as `previous_keys[1].key`).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The path of the field at fault.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it, without its value.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error seen from the value that holds this one at `parent`
    /// (`previous_keys[1]`): the field becomes `previous_keys[1].key`.
    pub fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        SettingsError { field, ..self }
    }
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for SettingsError {}

/// A `serialize_with` helper for secrets in settings: a set value is written as
/// `********`, an unset one as nothing (`None`), so settings can be shown or logged.
pub fn serialize_masked<T, S: serde::Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_str("********"),
        None => serializer.serialize_none(),
    }
}
