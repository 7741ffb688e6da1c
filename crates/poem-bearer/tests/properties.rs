//! Whatever a client sends, parsing and validating it neither panics nor authenticates.

use std::sync::Arc;

use poem_bearer::{
    Validator,
    keys::{KeyConfig, KeyMaterial, KeySet},
    parse_bearer,
};
use proptest::prelude::*;

fn validator(runtime: &tokio::runtime::Runtime) -> Arc<Validator> {
    let keys = KeySet::new(
        &KeyConfig {
            key_id: None,
            material: KeyMaterial::Hmac("0123456789abcdef0123456789abcdef".into()),
        },
        &[],
    )
    .unwrap();
    runtime
        .block_on(
            Validator::builder("r")
                .local("i", "a", Arc::new(keys))
                .build(),
        )
        .unwrap()
}

proptest! {
    #[test]
    fn arbitrary_authorization_values_never_authenticate(value in ".{0,300}") {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let validator = validator(&runtime);
        if let Some(token) = parse_bearer(&value) {
            prop_assert!(runtime.block_on(validator.validate(token)).is_err());
        }
    }

    #[test]
    fn arbitrary_jwt_shaped_tokens_never_authenticate(
        header in "[A-Za-z0-9_-]{0,80}",
        claims in "[A-Za-z0-9_-]{0,200}",
        signature in "[A-Za-z0-9_-]{0,60}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let token = format!("{header}.{claims}.{signature}");
        prop_assert!(runtime.block_on(validator(&runtime).validate(&token)).is_err());
    }
}
