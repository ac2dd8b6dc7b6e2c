//! TLS to PostgreSQL: a [`MakeTlsConnect`] for tokio-postgres over
//! tokio-rustls, with the rustls provider (aws-lc-rs) the AWS SDK already
//! builds.
//!
//! Two kinds of configuration, matching libpq's `sslmode`:
//!
//! - `require`: encrypted, the server's certificate not checked (its
//!   handshake signature still is). Protects against passive eavesdropping
//!   only.
//! - `verify-full`: the certificate must chain to the CA bundle (for RDS,
//!   the global bundle) and name the host.
//!
//! Channel binding is not offered (SCRAM-SHA-256 without `-PLUS`): the
//! `tls-server-end-point` hash depends on the certificate's signature
//! algorithm, and a wrong one would fail the login.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The `DATABASE_CA_BUNDLE` value that names the Amazon RDS root CAs
/// built into the binary instead of a file: a Lambda zip holds only the
/// binary, and the roots are what every RDS instance's certificate chains
/// to (`rds-ca-rsa2048-g1` by default).
pub const AMAZON_RDS_BUNDLE: &str = "amazon-rds";
const AMAZON_RDS_PEM: &[u8] = include_bytes!("../../certs/amazon-rds-ca-bundle.pem");

/// A TLS client configuration that verifies the server's certificate
/// against the CA certificates in the PEM file at `ca_bundle`, or the
/// built-in Amazon RDS roots for [`AMAZON_RDS_BUNDLE`] (and its name
/// against the host).
pub fn verifying_config(ca_bundle: &Path) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let certs: Box<dyn Iterator<Item = _>> =
        if ca_bundle == Path::new(AMAZON_RDS_BUNDLE) {
            Box::new(CertificateDer::pem_slice_iter(AMAZON_RDS_PEM))
        } else {
            Box::new(CertificateDer::pem_file_iter(ca_bundle).map_err(|err| {
                format!("cannot read the CA bundle {}: {err}", ca_bundle.display())
            })?)
        };
    for cert in certs {
        let cert =
            cert.map_err(|err| format!("the CA bundle {} is not PEM: {err}", ca_bundle.display()))?;
        roots
            .add(cert)
            .map_err(|err| format!("a certificate in {}: {err}", ca_bundle.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "the CA bundle {} holds no certificate",
            ca_bundle.display()
        ));
    }
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

/// A TLS client configuration that encrypts but accepts any server
/// certificate (libpq's `sslmode=require`).
pub fn encrypting_config() -> ClientConfig {
    let provider = provider();
    ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the default provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth()
}

/// Accepts whatever certificate the server shows, but checks that the
/// server holds its key (the handshake signature).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS factory: one per connection attempt.
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
}

impl RustlsConnect {
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnectOne;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnectOne> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        Ok(RustlsConnectOne {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name,
        })
    }
}

pub struct RustlsConnectOne {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnectOne
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = self.connector.connect(self.name, stream).await?;
            Ok(RustlsStream(Box::new(tls)))
        })
    }
}

pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S> tokio_postgres::tls::TlsStream for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_amazon_rds_roots_are_current_certificates() {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_RDS_PEM)
            .collect::<Result<_, _>>()
            .expect("the bundle is PEM");
        // Three key types (RSA2048, RSA4096, ECC384) for each of ~30 regions.
        assert!(certs.len() >= 80, "{} certificates", certs.len());
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(certs);
        assert_eq!(ignored, 0, "every root parses as a trust anchor");
        assert_eq!(added, roots.len());
        assert!(verifying_config(Path::new(AMAZON_RDS_BUNDLE)).is_ok());
    }

    #[test]
    fn a_missing_bundle_file_is_named() {
        let err = verifying_config(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
