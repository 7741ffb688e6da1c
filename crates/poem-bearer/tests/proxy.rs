//! `HTTP_PROXY` and friends are not followed when fetching keys: a proxy could swap them.
//! A test binary of its own, since it sets process-wide environment variables.

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use poem_bearer::{TrustedIssuer, Validator};

use common::{Issuer, key, token};

#[tokio::test]
async fn keys_are_fetched_directly_whatever_the_proxy_variables_say() {
    // A "proxy" that counts the connections it gets and answers none of them usefully.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    tokio::spawn({
        let connections = connections.clone();
        async move {
            while let Ok((socket, _)) = proxy.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        }
    });
    // SAFETY: this binary's only test sets them before any thread reads them.
    unsafe {
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "HTTPS_PROXY",
        ] {
            std::env::set_var(name, &proxy_url);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let a = key("a");
    let issuer = Issuer::start("https://id.example.com", vec![a.jwk.clone()]).await;
    let validator = Validator::builder("api")
        .trust(TrustedIssuer {
            issuer: "https://id.example.com".into(),
            jwks_url: Some(format!("{}/jwks", issuer.base)),
            audience: "api".into(),
            ..TrustedIssuer::default()
        })
        .build()
        .await
        .unwrap();
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the proxy was asked");
    assert_eq!(issuer.fetches(), 1);
    assert!(
        validator
            .validate(&token(&a, "https://id.example.com", "api", "x"))
            .await
            .is_ok()
    );
}
