//! The certificates of one stand-in cluster, as kind's kubeadm makes them: a
//! cluster CA, a serving certificate for 127.0.0.1 and localhost, and an
//! admin client certificate (`kubernetes-admin`, group `system:masters`).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

/// PEM-encoded certificates and keys of one cluster.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The cluster CA certificate.
    pub ca_pem: String,
    /// The API server's certificate.
    pub server_cert_pem: String,
    /// The API server's key.
    pub server_key_pem: String,
    /// The admin client certificate.
    pub client_cert_pem: String,
    /// The admin client key.
    pub client_key_pem: String,
}

impl Pki {
    /// New certificates for one cluster.
    pub fn generate() -> Result<Pki, rcgen::Error> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kubernetes");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut server_params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ])?;
        server_params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("an address")));
        server_params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        let server_key = KeyPair::generate()?;
        let server_cert = server_params.signed_by(&server_key, &ca)?;

        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "kubernetes-admin");
        client_params
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        let client_key = KeyPair::generate()?;
        let client_cert = client_params.signed_by(&client_key, &ca)?;

        Ok(Pki {
            ca_pem: ca.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }
}
