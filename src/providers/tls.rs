//! TLS for the shared HTTP client, with the system's CA certificates read when an https host is
//! first contacted rather than when the client is built.
//!
//! Reading them is the slow part of building a client: on Debian the probe finds both the bundle
//! and the directory, ~150 certificates each, parsed from PEM (tens of milliseconds, more on a
//! busy machine). A workspace whose providers are all on loopback (llama.cpp, Ollama, a test's
//! fake) never needs them, and the first request to such a provider no longer waits for them.
//! Verification itself is rustls-platform-verifier's, as reqwest would have set it up.

use std::sync::{Arc, OnceLock};

use rustls::{
    DigitallySignedStruct, Error, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use rustls_platform_verifier::Verifier;

/// The system-roots verifier, once loaded (or why it could not be).
static ROOTS: OnceLock<Result<Verifier, String>> = OnceLock::new();

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the system's CA certificates now, unless done already. Blocking: call it on a
/// blocking-pool thread (the warm-up and the first https request do) so that the handshake, which
/// runs on a runtime worker, finds them ready.
pub fn load_roots() {
    let _ = roots(); // a failure is logged once, and reported by every https handshake
}

/// Whether the CA certificates have been read (tests of the startup path).
pub fn roots_loaded() -> bool {
    ROOTS.get().is_some()
}

fn roots() -> Result<&'static Verifier, Error> {
    let loaded = ROOTS.get_or_init(|| {
        let verifier = Verifier::new(provider()).map_err(|e| e.to_string());
        match &verifier {
            Ok(_) => tracing::debug!("read the system's CA certificates"),
            Err(e) => tracing::warn!("cannot read the system's CA certificates, https providers will fail: {e}"),
        }
        verifier
    });
    loaded.as_ref().map_err(|e| Error::General(format!("no CA certificates: {e}")))
}

/// The client's TLS settings: TLS 1.2 and 1.3 on ring, HTTP/2 or 1.1 by ALPN (as reqwest sets
/// them), and the lazily loaded system roots.
pub fn client_config() -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SystemRoots { provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks certificates against the system's roots, read on the first certificate it checks.
/// Handshake signatures need no roots: they are checked with the provider's algorithms, exactly
/// as the platform verifier does.
#[derive(Debug)]
struct SystemRoots {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        roots()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_offers_http2_and_the_providers_schemes_without_reading_roots() {
        let config = client_config().unwrap();
        assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        let verifier = SystemRoots { provider: provider() };
        let schemes = verifier.supported_verify_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256), "{schemes:?}");
        assert!(schemes.contains(&SignatureScheme::RSA_PSS_SHA256), "{schemes:?}");
    }

    #[test]
    fn a_certificate_is_checked_against_the_system_roots() {
        let verifier = SystemRoots { provider: provider() };
        let name = ServerName::try_from("api.openai.com").unwrap();
        // Not a certificate at all: refused, never accepted, whether or not this machine has roots.
        let bogus = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let verdict = verifier.verify_server_cert(&bogus, &[], &name, &[], UnixTime::now());
        assert!(verdict.is_err(), "{verdict:?}");
        assert!(roots_loaded(), "the first check reads the roots");
    }
}
