//! Where a token request comes from, resolved once per request, and the 429 for an
//! address the throttle holds back.

use std::{net::IpAddr, sync::Arc};

use poem::{FromRequest, Request, RequestBody};
use poem_client_credentials::throttle::{Throttle, TrustedProxies, source_address};

use crate::error::Error;

/// The client's address, resolved once; refuses the request with 429 while that address
/// is throttled. Taken by the token endpoint before its body, so a blocked address is
/// refused without its body being read.
pub struct ClientAddress(pub Option<IpAddr>);

impl<'a> FromRequest<'a> for ClientAddress {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let trusted = request
            .data::<TrustedProxies>()
            .map(|t| t.0.as_slice())
            .unwrap_or_default();
        let address = request
            .remote_addr()
            .as_socket_addr()
            .map(|peer| source_address(peer.ip(), request.headers(), trusted));
        if let (Some(address), Some(throttle)) = (address, request.data::<Arc<Throttle>>())
            && let Err(throttled) = throttle.check(address)
        {
            if let Some(metrics) = request.data::<Arc<crate::telemetry::Metrics>>() {
                metrics.throttled();
            }
            return Err(Error::TooManyRequests {
                retry_after: throttled.retry_after,
            }
            .into());
        }
        Ok(ClientAddress(address))
    }
}
