import CNGTCP2
import Foundation

/// Where a STOQ endpoint's TLS identity and trust come from: TrustChain's files.
public struct TLSConfiguration: Sendable {
    /// PEM certificate chain to present: the leaf first, then the intermediate (TrustChain's `chain.pem`).
    public var certificateChainPath: String
    /// PEM private key of the leaf (`key.pem`).
    public var privateKeyPath: String
    /// PEM root certificate(s) a peer's chain must end at (the mesh root, `ca/root.pem`).
    public var trustedRootsPath: String
    /// Optional PEM CRL; certificates it lists are refused.
    public var revocationListPath: String?

    public init(certificateChainPath: String, privateKeyPath: String, trustedRootsPath: String,
                revocationListPath: String? = nil) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.trustedRootsPath = trustedRootsPath
        self.revocationListPath = revocationListPath
    }
}

/// GnuTLS certificate credentials loaded from a ``TLSConfiguration``, shared by every session of an endpoint.
final class TLSCredentials: @unchecked Sendable {
    /// The `gnutls_certificate_credentials_t`.
    let handle: OpaquePointer

    /// TLS 1.3 only, with the AEADs and groups QUIC uses (from ngtcp2's examples).
    static let priority = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
        + "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"
        + "%DISABLE_TLS13_COMPAT_MODE"

    init(_ configuration: TLSConfiguration) throws {
        for path in [configuration.certificateChainPath, configuration.privateKeyPath, configuration.trustedRootsPath]
            + (configuration.revocationListPath.map { [$0] } ?? []) where !FileManager.default.isReadableFile(atPath: path) {
            throw STOQError.tls("\(path): no such readable file")
        }
        var handle: OpaquePointer?
        try Self.check(gnutls_certificate_allocate_credentials(&handle), "allocating credentials")
        self.handle = handle!
        try Self.check(gnutls_certificate_set_x509_key_file2(self.handle, configuration.certificateChainPath,
                                                              configuration.privateKeyPath, GNUTLS_X509_FMT_PEM, nil, 0),
                       "\(configuration.certificateChainPath) with \(configuration.privateKeyPath)")
        let roots = gnutls_certificate_set_x509_trust_file(self.handle, configuration.trustedRootsPath, GNUTLS_X509_FMT_PEM)
        try Self.check(roots, configuration.trustedRootsPath)
        guard roots > 0 else { throw STOQError.tls("\(configuration.trustedRootsPath): no certificate in it") }
        if let crl = configuration.revocationListPath {
            let count = gnutls_certificate_set_x509_crl_file(self.handle, crl, GNUTLS_X509_FMT_PEM)
            try Self.check(count, crl)
        }
        gnutls_certificate_set_verify_function(self.handle, verifyPeerCallback)
    }

    /// A client with no certificate and no trusted roots: it presents nothing and leaves the server's chain to
    /// its caller (``QUICConnection/PeerVerification/deferredToCaller``).
    init(anonymousClient: Void) throws {
        var handle: OpaquePointer?
        try Self.check(gnutls_certificate_allocate_credentials(&handle), "allocating credentials")
        self.handle = handle!
        gnutls_certificate_set_verify_function(self.handle, verifyPeerCallback)
    }

    deinit { gnutls_certificate_free_credentials(self.handle) }

    /// Throws when a GnuTLS call returned a negative error code.
    static func check(_ result: Int32, _ what: String) throws {
        if result < 0 {
            throw STOQError.tls("\(what): \(String(cString: gnutls_strerror(result)))")
        }
    }
}

/// GnuTLS calls this during the handshake, once the peer's certificate has arrived; refusing here aborts the
/// handshake with an alert, before any application data flows.
private let verifyPeerCallback: @convention(c) (OpaquePointer?) -> Int32 = { session in
    guard let session, let reference = gnutls_session_get_ptr(session) else { return GNUTLS_E_CERTIFICATE_ERROR }
    let connectionReference = reference.assumingMemoryBound(to: ngtcp2_crypto_conn_ref.self)
    let connection = Unmanaged<QUICConnection>.fromOpaque(connectionReference.pointee.user_data).takeUnretainedValue()
    return connection.verifyPeerCertificate() ? 0 : GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR
}
