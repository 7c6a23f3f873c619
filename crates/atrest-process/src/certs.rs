//! Certificates for etcd and kube-apiserver, minted with rcgen (ECDSA P-256), laid out the way
//! kubeadm and envtest use them: a CA per trust domain, serving certificates with IP and DNS
//! SANs, client certificates whose CN is the user and whose O entries are the groups.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Minting or writing a certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters or failed to sign.
    #[error("cannot mint certificate {name:?}")]
    Mint {
        /// The certificate's common name.
        name: String,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
    /// A PEM file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A certificate authority that signs serving and client certificates.
pub struct CertAuthority {
    name: String,
    cert_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A certificate and its private key, PEM-encoded. `Debug` does not print the key.
#[derive(Clone)]
pub struct CertPair {
    /// The certificate (PEM).
    pub cert_pem: String,
    key_pem: String,
}

impl fmt::Debug for CertPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertPair").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

impl CertPair {
    /// The private key (PKCS#8 PEM).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Writes `<dir>/<stem>.crt` and `<dir>/<stem>.key` (mode 0600); returns both paths.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf), CertError> {
        let crt = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        write_file(&crt, self.cert_pem.as_bytes())?;
        write_file(&key, self.key_pem.as_bytes())?;
        Ok((crt, key))
    }
}

fn mint_err(name: &str) -> impl FnOnce(rcgen::Error) -> CertError + '_ {
    move |source| CertError::Mint { name: name.to_owned(), source }
}

/// Writes `bytes` to a new file, mode 0600. Public certificates too: only the harness's own
/// processes read them, and "nothing the harness writes is readable by others" is a rule a test
/// can check where "only the secret ones" is not.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CertError> {
    let write = || -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(bytes)
    };
    write().map_err(|source| CertError::Write { path: path.to_owned(), source })
}

impl CertAuthority {
    /// A new self-signed CA named `common_name`.
    pub fn new(common_name: &str) -> Result<CertAuthority, CertError> {
        let err = mint_err(common_name);
        let key = KeyPair::generate().map_err(mint_err(common_name))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name = name(common_name, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(mint_err(common_name))?;
        Ok(CertAuthority {
            name: common_name.to_owned(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A serving certificate for `ips` and `dns_names`. With `client_auth` it may also
    /// authenticate as a client (etcd's peer and server certificates in kubeadm do both).
    pub fn server(
        &self,
        common_name: &str,
        ips: &[IpAddr],
        dns_names: &[&str],
        client_auth: bool,
    ) -> Result<CertPair, CertError> {
        let mut params =
            CertificateParams::new(dns_names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .map_err(mint_err(common_name))?;
        params.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if client_auth {
            params.extended_key_usages.push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        self.sign(common_name, &[], params)
    }

    /// A client certificate for user `common_name` in `groups`.
    pub fn client(&self, common_name: &str, groups: &[&str]) -> Result<CertPair, CertError> {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(mint_err(common_name))?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(common_name, groups, params)
    }

    fn sign(
        &self,
        common_name: &str,
        groups: &[&str],
        mut params: CertificateParams,
    ) -> Result<CertPair, CertError> {
        params.distinguished_name = name(common_name, groups);
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(mint_err(common_name))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(mint_err(common_name))?;
        Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

fn name(common_name: &str, groups: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for group in groups {
        dn.push(DnType::OrganizationName, *group);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A service-account signing key pair (ECDSA P-256, ES256 tokens).
pub struct ServiceAccountKey {
    private_pem: String,
    public_pem: String,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey").finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// A fresh key.
    pub fn generate() -> Result<ServiceAccountKey, CertError> {
        let key = KeyPair::generate().map_err(mint_err("service-account"))?;
        Ok(ServiceAccountKey { private_pem: key.serialize_pem(), public_pem: key.public_key_pem() })
    }

    /// Writes `<dir>/sa.key` and `<dir>/sa.pub` (both 0600); returns (private, public).
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), CertError> {
        let private = dir.join("sa.key");
        let public = dir.join("sa.pub");
        write_file(&private, self.private_pem.as_bytes())?;
        write_file(&public, self.public_pem.as_bytes())?;
        Ok((private, public))
    }
}
