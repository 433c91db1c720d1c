//! [`BulkApi`] for the real client: every call goes through its shared rate limiter, and its
//! errors are classified by whether an order POST may be sent again.

use std::time::Duration;

use certcentral_client::{Client, Error, RetryPolicy, Revocation, RevokeTarget};
use certcentral_types::{DownloadFormat, OrderBody, OrderInfo, ProductId, StatusChange};
use chrono::{DateTime, Utc};

use super::api::{ApiFailure, BulkApi, Placed, RevokeOutcome, revocation_in};

fn describe(err: &Error) -> String {
    match err {
        Error::Api { status, errors } => {
            let list = errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            format!("http {status}: {list}")
        }
        other => other.to_string(),
    }
}

/// Classifies a client error for an order POST by the client's own verdict, never by
/// status codes: the client returns [`Error::OutcomeUnknown`] whenever the order may exist
/// (sent without a usable answer: timeout, reset, 5xx, unreadable success), so every other
/// answer from the server is a definite refusal.
pub(crate) fn classify_order_error(err: Error) -> ApiFailure {
    let message = describe(&err);
    match err {
        Error::OutcomeUnknown(_) => ApiFailure::Unknown { message },
        Error::RateLimited { retry_after } => ApiFailure::NotProcessed {
            retry_after,
            message,
        },
        Error::Transport(t) if !t.maybe_reached_server() => ApiFailure::Unreachable { message },
        Error::Invalid(_)
        | Error::InvalidArgument(_)
        | Error::Api { .. }
        | Error::Decode { .. } => ApiFailure::Refused { message },
        // Anything else may have reached the server: the order may exist.
        _ => ApiFailure::Unknown { message },
    }
}

/// Classifies a client error for a read (retrying a read is always safe): what the client
/// calls retryable is worth another try later, a definite answer is not.
fn classify_read_error(err: Error) -> ApiFailure {
    let message = describe(&err);
    match err {
        Error::RateLimited { retry_after } => ApiFailure::NotProcessed {
            retry_after,
            message,
        },
        Error::Transport(t) if !t.maybe_reached_server() => ApiFailure::Unreachable { message },
        e if !e.is_retryable() => ApiFailure::Refused { message },
        _ => ApiFailure::Unknown { message },
    }
}

impl BulkApi for Client {
    fn retry_policy(&self) -> RetryPolicy {
        Client::retry_policy(self).clone()
    }

    async fn order(
        &self,
        product: &str,
        request: &OrderBody,
        patience: Duration,
    ) -> Result<Placed, ApiFailure> {
        // The client's own retries (429, no connection) end with the row's patience.
        let policy = Client::retry_policy(self);
        let client = self.with_retry_policy(RetryPolicy {
            deadline: policy.deadline.min(patience),
            ..policy.clone()
        });
        let order = match product.parse::<ProductId>() {
            Ok(product) => client.order_certificate(product, request).await,
            // A product the catalog does not know (--allow-unknown): sent as given.
            Err(_) => match serde_json::to_value(request) {
                Ok(body) => client.order_as_given(product, &body).await,
                Err(e) => Err(Error::InvalidArgument(format!(
                    "the order cannot be serialized: {e}"
                ))),
            },
        }
        .map_err(classify_order_error)?;
        Ok(Placed {
            order_id: order.id(),
            request_ids: order.requests().iter().map(|r| r.id).collect(),
            request_status: order
                .requests()
                .first()
                .and_then(|r| r.status.as_ref())
                .map(|s| s.as_str().to_owned()),
            certificate_id: order.certificate_id(),
            chain: order.issued_pem(),
        })
    }

    async fn status_changes(&self, minutes: u32) -> Result<Vec<StatusChange>, ApiFailure> {
        Client::status_changes(self, i64::from(minutes))
            .await
            .map(|c| c.orders)
            .map_err(classify_read_error)
    }

    async fn order_info(&self, order_id: i64) -> Result<OrderInfo, ApiFailure> {
        Client::order_info(self, order_id)
            .await
            .map_err(classify_read_error)
    }

    async fn find_recent_orders(
        &self,
        product: &str,
        common_name: &str,
        emails: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<OrderInfo>, ApiFailure> {
        Client::find_recent_orders(self, product, common_name, emails, since)
            .await
            .map_err(classify_read_error)
    }

    async fn download(&self, certificate_id: i64) -> Result<Vec<u8>, ApiFailure> {
        self.download_by_certificate(certificate_id, DownloadFormat::PemAll)
            .await
            .map_err(classify_read_error)
    }

    async fn renewal_request(
        &self,
        order_id: i64,
        csr: &str,
    ) -> Result<(ProductId, OrderBody), ApiFailure> {
        let order = Client::order(self, order_id)
            .await
            .map_err(classify_read_error)?;
        order
            .renewal_body(Some(csr), None)
            .map_err(|e| ApiFailure::Refused {
                message: describe(&e),
            })
    }

    async fn revoke_order(
        &self,
        order_id: i64,
        comment: &str,
        skip_approval: bool,
    ) -> Result<RevokeOutcome, ApiFailure> {
        let outcome = self
            .revoke(RevokeTarget::Order(order_id), Some(comment), skip_approval)
            .await
            .map_err(classify_order_error)?;
        match outcome {
            Revocation::Revoked => Ok(RevokeOutcome::Revoked),
            Revocation::Requested(request) => Ok(RevokeOutcome::Requested(Some(request.id))),
            // The answer was lost and the order shows the revocation: which one, from the
            // order info (a revoke request in place, or revoked).
            Revocation::Reconciled => {
                let info = self
                    .order_info(order_id)
                    .await
                    .map_err(classify_read_error)?;
                Ok(revocation_in(&info).unwrap_or(RevokeOutcome::Requested(None)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certcentral_client::{ApiError, UnknownOutcome};

    fn unknown(status: Option<u16>) -> Error {
        Error::OutcomeUnknown(Box::new(UnknownOutcome {
            product: ProductId::ClientPremiumSha2.to_string(),
            common_name: "A".into(),
            emails: vec![],
            sent_at: Utc::now(),
            status,
            cause: "reset".into(),
        }))
    }

    #[test]
    fn order_errors_follow_the_clients_verdict() {
        assert!(matches!(
            classify_order_error(unknown(Some(503))),
            ApiFailure::Unknown { .. }
        ));
        assert!(matches!(
            classify_order_error(unknown(None)),
            ApiFailure::Unknown { .. }
        ));
        let refused = Error::Api {
            status: 400,
            errors: vec![ApiError {
                code: "invalid_email".into(),
                message: "bad".into(),
            }],
        };
        assert!(matches!(
            classify_order_error(refused),
            ApiFailure::Refused { message } if message.contains("invalid_email")
        ));
        assert!(matches!(
            classify_order_error(Error::RateLimited { retry_after: None }),
            ApiFailure::NotProcessed { .. }
        ));
    }

    #[test]
    fn read_errors_follow_the_clients_retry_rule() {
        let server = Error::Decode {
            status: 502,
            snippet: "<html>".into(),
        };
        assert!(matches!(
            classify_read_error(server),
            ApiFailure::Unknown { .. }
        ));
        let missing = Error::Api {
            status: 404,
            errors: vec![],
        };
        assert!(matches!(
            classify_read_error(missing),
            ApiFailure::Refused { .. }
        ));
    }
}
